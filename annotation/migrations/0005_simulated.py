from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [  # noqa: RUF012
        ("annotation", "0004_annotator_day"),
    ]

    operations = [  # noqa: RUF012
        migrations.AddField(
            model_name="annotator",
            name="simulated",
            field=models.BooleanField(db_index=True, default=False),
        ),
    ]

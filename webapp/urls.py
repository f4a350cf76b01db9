"""URLs: the admin (at DJANGO_ADMIN_PATH), and the researchers' dashboard under /runs/ (the site's front page)."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Visual Turing Lab"
admin.site.site_title = "Visual Turing Lab"
admin.site.site_url = "/runs/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="runs:list", permanent=False)),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("runs/", include("runs.urls")),
    # Human studies: annotators' links under /s/, researchers' results under /studies/.
    path("", include("annotation.urls")),
]

"""Simulated observers: a signal-detection model of an annotator (pure, seeded), its population truths, judgment
tables drawn from it for calibration, and a driver that takes such observers through the real annotator flow
over HTTP."""

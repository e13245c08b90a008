"""The HTTP prediction service: :mod:`serving.service` (BentoML) around :mod:`serving.predictor`.

Kept light: importing ``serving`` imports nothing; the service module pulls in BentoML, the
predictor only features, models and LightGBM (never mlflow, never training).
"""

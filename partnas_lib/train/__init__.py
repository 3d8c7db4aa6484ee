"""Search, retraining and the run directory they share."""

"""The default agent: model-predictive local search on the step model."""

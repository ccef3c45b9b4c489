"""The regularization hyperparameter search (Yosinski et al. 2015, section 3):
sampled combinations, their scores, and the job that runs them vmapped over
probe units (``jaxvis.jobs.search_job``)."""

"""The bulk-job engine: the job's submit/poll/download steps, file formats and its spec."""

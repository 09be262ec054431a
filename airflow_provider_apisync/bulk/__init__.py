"""The bulk-job engine: the job's submit/poll/download steps, its persisted state, file
formats and its spec."""

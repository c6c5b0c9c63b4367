"""Model storage: copy exactly one model version and its config.pbtxt out of an object store.

The `model-storage` init container of every Triton pod with an s3://, gs:// or as:// repository runs
`python -m tritonops.storage.fetch`; pvc:// and file:// repositories are mounted instead (desired/deployment.py).
"""

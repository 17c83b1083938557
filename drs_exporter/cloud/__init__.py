"""The signed HTTP calls to Huawei Cloud: the shared limiter, one request, its credentials, a
retried call, and IAM's list of projects. Nothing here knows what a DRS job is.
"""

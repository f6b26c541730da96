"""Schemas of the API: what a request may carry and what a response contains.

`common` is shared by every router (business instants, the strict request base, the error body);
`case_requests` are the case API's request bodies (one per lifecycle action), `case_responses` its
response schemas for the OpenAPI document, `case_presenters` turn cases into those responses (with
the PII masking). The other routers keep their few schemas beside their operations.
"""

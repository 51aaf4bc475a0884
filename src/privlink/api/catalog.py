"""The AWS services privlink speaks, and how to recognise a request for each.

Service models come from botocore's own data files (the same ones the aws CLI and boto3
use), loaded lazily and cached.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import botocore.session
from botocore.model import ServiceModel


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # botocore's service name (ec2, elbv2, …)
    signing_name: str  # the SigV4 credential-scope service (ec2, elasticloadbalancing, …)
    api_version: str
    json_target_prefix: str | None = None
    # error codes this service uses for input that does not fit the model
    invalid_value_code: str = "InvalidParameterValue"
    missing_param_code: str = "MissingParameter"
    malformed_code: str = "MalformedQueryString"
    unknown_action_code: str = "InvalidAction"
    unknown_action_status: int = 400
    too_large_code: str = "RequestEntityTooLarge"
    global_service: bool = False

    @property
    def model(self) -> ServiceModel:
        return load_model(self.name)


SERVICES: dict[str, ServiceSpec] = {
    s.name: s
    for s in [
        ServiceSpec("ec2", "ec2", "2016-11-15", missing_param_code="MissingParameter"),
        ServiceSpec(
            "elbv2",
            "elasticloadbalancing",
            "2015-12-01",
            invalid_value_code="ValidationError",
            missing_param_code="ValidationError",
        ),
        ServiceSpec(
            "sts",
            "sts",
            "2011-06-15",
            invalid_value_code="ValidationError",
            missing_param_code="ValidationError",
            global_service=False,
        ),
        ServiceSpec(
            "sns",
            "sns",
            "2010-03-31",
            invalid_value_code="InvalidParameter",
            missing_param_code="InvalidParameter",
        ),
        ServiceSpec(
            "cloudwatch",
            "monitoring",
            "2010-08-01",
            json_target_prefix="GraniteServiceVersion20100801",
            invalid_value_code="InvalidParameterValue",
            missing_param_code="MissingParameter",
        ),
        ServiceSpec(
            "logs",
            "logs",
            "2014-03-28",
            json_target_prefix="Logs_20140328",
            invalid_value_code="InvalidParameterException",
            missing_param_code="InvalidParameterException",
            malformed_code="SerializationException",
            unknown_action_code="UnknownOperationException",
        ),
        ServiceSpec(
            "route53",
            "route53",
            "2013-04-01",
            invalid_value_code="InvalidInput",
            missing_param_code="InvalidInput",
            malformed_code="InvalidInput",
            unknown_action_code="InvalidAction",
            unknown_action_status=404,
            global_service=True,
        ),
    ]
}

BY_SIGNING_NAME: dict[str, list[ServiceSpec]] = {}
for _spec in SERVICES.values():
    BY_SIGNING_NAME.setdefault(_spec.signing_name, []).append(_spec)
BY_TARGET_PREFIX = {s.json_target_prefix: s for s in SERVICES.values() if s.json_target_prefix}
BY_VERSION = {s.api_version: s for s in SERVICES.values()}


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def load_model(name: str) -> ServiceModel:
    return _session().get_service_model(name)


def default_region(spec: ServiceSpec) -> str:
    return "us-east-1"

"""PrivateLink resources: endpoint services (provider), VPC endpoints (consumer), and
connection notifications."""

from __future__ import annotations

from dataclasses import dataclass, field

from .store import Resource, resource


@dataclass
class AllowedPrincipal:
    principal: str  # an ARN, or "*"
    principal_type: str  # All | Account | Role | User | Service | OrganizationUnit
    permission_id: str  # vpce-svc-perm-…
    tags: dict[str, str] = field(default_factory=dict)


@resource("ec2.vpc_endpoint_service")
@dataclass(kw_only=True)
class EndpointService(Resource):
    """id is the service id (``vpce-svc-`` + 17 hex)."""

    service_name: str
    service_type: str = "Interface"  # Interface | GatewayLoadBalancer
    state: str = "Pending"  # Pending | Available | Deleting | Deleted | Failed
    state_reason: str | None = None
    acceptance_required: bool = True
    manages_vpc_endpoints: bool = False
    network_load_balancer_arns: list[str] = field(default_factory=list)
    gateway_load_balancer_arns: list[str] = field(default_factory=list)
    supported_ip_address_types: list[str] = field(default_factory=lambda: ["ipv4"])
    supported_regions: list[str] = field(default_factory=list)
    private_dns_name: str | None = None
    private_dns_state: str | None = None  # pendingVerification | verified | failed
    private_dns_txt_name: str | None = None  # "_" + 20 lowercase alphanumerics
    private_dns_txt_value: str | None = None  # "vpce:" + 20 alphanumerics
    private_dns_verification_deadline: float | None = None
    payer_responsibility: str = "ServiceOwner"
    allowed_principals: list[AllowedPrincipal] = field(default_factory=list)
    client_token: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:vpc-endpoint-service/{self.id}"

    @property
    def load_balancer_arns(self) -> list[str]:
        return self.network_load_balancer_arns or self.gateway_load_balancer_arns

    @property
    def private_dns_verified(self) -> bool:
        return bool(self.private_dns_name) and self.private_dns_state == "verified"


@resource("ec2.vpc_endpoint")
@dataclass(kw_only=True)
class VpcEndpoint(Resource):
    """id is the endpoint id (``vpce-`` + 17 hex)."""

    vpc_id: str
    service_name: str
    service_id: str | None  # None for AWS-provided services
    service_owner: str  # account id, or "amazon"
    endpoint_type: str = "Interface"  # Interface | Gateway | GatewayLoadBalancer
    state: str = "pending"  # pendingAcceptance | pending | available | rejected | failed | deleting | deleted
    subnet_ids: list[str] = field(default_factory=list)
    network_interface_ids: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    route_table_ids: list[str] = field(default_factory=list)
    private_dns_enabled: bool = False
    policy_document: str | None = None
    ip_address_type: str = "ipv4"
    dns_record_ip_type: str = "ipv4"
    private_dns_only_for_inbound_resolver_endpoint: bool | None = None
    dns_suffix: str = ""  # the 8 random characters in the endpoint's DNS names
    connection_id: str = ""  # vpce-con-…
    last_error_code: str | None = None
    last_error_message: str | None = None
    client_token: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    state_changed_at: float = 0.0

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:vpc-endpoint/{self.id}"

    @property
    def live(self) -> bool:
        return self.state not in ("deleting", "deleted", "rejected", "failed", "expired")

    @property
    def service_label(self) -> str:
        """The service part of the endpoint's DNS names: the service id, or for AWS services
        the short name (``com.amazonaws.us-east-1.s3`` -> ``s3``)."""
        if self.service_id:
            return self.service_id
        return self.service_name.split(f"{self.region}.", 1)[-1]

    @property
    def regional_dns_name(self) -> str:
        return f"{self.id}-{self.dns_suffix}.{self.service_label}.{self.region}.vpce.amazonaws.com"

    def zonal_dns_name(self, az_name: str) -> str:
        return f"{self.id}-{self.dns_suffix}-{az_name}.{self.service_label}.{self.region}.vpce.amazonaws.com"


@resource("ec2.vpc_endpoint_connection_notification")
@dataclass(kw_only=True)
class ConnectionNotification(Resource):
    """id is ``vpce-nfn-`` + 17 hex."""

    topic_arn: str
    events: list[str]
    service_id: str | None = None
    vpc_endpoint_id: str | None = None
    state: str = "Enabled"
    client_token: str | None = None
    created_at: float = 0.0

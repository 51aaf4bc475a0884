"""``privlink lab``: the reference article's hands-on lab and its end-to-end checklist, run
against privlink as two accounts — a provider, and a consumer acting through an assumed
role.

Every step is made through the real AWS API (boto3, exactly what the printed aws CLI
command does) and checked; the first step whose result differs from what AWS would show
stops the lab with one sentence naming it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config

PROVIDER = "111111111111"
CONSUMER = "222222222222"
CONSUMER_ROLE = f"arn:aws:iam::{CONSUMER}:role/lab-consumer-role"
REGION = "us-east-1"
PRIVATE_NAME = "payments.internal.example.com"
DOMAIN = "example.com"
PORT = 8443
TARGET_IP = "10.10.1.20"
ZONES = ("use1-az1", "use1-az2")


class LabFailure(Exception):
    """A step saw something other than what it expected."""


@dataclass
class Step:
    number: str
    title: str
    cli: list[str] = field(default_factory=list)
    expected: str = ""
    saw: str = ""
    ok: bool | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "step": self.number,
            "title": self.title,
            "cli": self.cli,
            "expected": self.expected,
            "saw": self.saw,
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
        }


class Lab:
    def __init__(
        self,
        endpoint: str,
        *,
        out=sys.stdout,
        json_mode: bool = False,
        timeout: float = 60.0,
        fault: str | None = None,
        keep: bool = False,
    ):
        self.endpoint = endpoint
        self.out = out
        self.json_mode = json_mode
        self.timeout = timeout
        self.fault = fault
        self.keep = keep
        self.steps: list[Step] = []
        self.ids: dict[str, Any] = {}
        self.target_proc: subprocess.Popen | None = None
        cfg = botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"})
        self._cfg = cfg
        self.provider = self._session(PROVIDER, "provider-secret")
        base = self._session(CONSUMER, "consumer-secret")
        self.consumer_base = base
        self.consumer = None  # the assumed-role session, made in step 3
        # names unique per run: the lab can run again against a server that keeps an
        # earlier run's resources (--keep, or an earlier run that failed half-way)
        run_id = self.run_id = secrets.token_hex(3)
        self.nlb_name = f"pl-lab-nlb-{run_id}"
        self.tg_name = f"pl-lab-tg-{run_id}"
        self.log_group = f"/pl-lab/{run_id}/flow-logs"
        self.workdir: str | None = None  # the target's log and, with --keep, an AWS config
        self.ok = False

    # -- plumbing ----------------------------------------------------------------------------

    def _session(self, key: str, secret: str, token: str | None = None) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name=REGION,
        )

    def client(self, session: boto3.Session, service: str):
        return session.client(service, endpoint_url=self.endpoint, config=self._cfg)

    def say(self, text: str = "") -> None:
        if not self.json_mode:
            print(text, file=self.out, flush=True)

    def step(
        self, number: str, title: str, cli: list[str], expected: str, fn: Callable[[Step], str]
    ) -> Any:
        s = Step(number, title, cli, expected)
        self.steps.append(s)
        self.say(f"\n[{number}] {title}")
        for line in cli:
            self.say(f"    $ {line}")
        self.say(f"    expect: {expected}")
        started = time.monotonic()
        try:
            s.saw = fn(s)
            s.ok = True
        except LabFailure as e:
            s.ok, s.saw = False, str(e)
            raise LabFailure(f"step {number} ({title}) failed: {e}") from None
        except Exception as e:  # a client error is a finding too
            s.ok, s.saw = False, f"{type(e).__name__}: {e}"
            raise LabFailure(f"step {number} ({title}) failed: {s.saw}") from None
        finally:
            s.seconds = time.monotonic() - started
        self.say(f"    saw:    {s.saw}   ({s.seconds:.1f}s)")
        return s.saw

    def wait(
        self,
        what: str,
        fn: Callable[[], Any],
        timeout: float | None = None,
        show: Callable[[Any], str] | None = None,
    ):
        """Poll ``fn`` until it returns something truthy, showing progress."""
        deadline = time.monotonic() + (timeout or self.timeout)
        last = None
        dots = 0
        while time.monotonic() < deadline:
            try:
                last = fn()
            except Exception:
                if dots and not self.json_mode:
                    print(file=self.out, flush=True)
                raise
            if last:
                if dots and not self.json_mode:
                    print(file=self.out, flush=True)
                return last
            if not self.json_mode:
                if dots == 0:
                    print(f"    waiting for {what} ", end="", file=self.out, flush=True)
                print(".", end="", file=self.out, flush=True)
                dots += 1
            time.sleep(0.5)
        if dots and not self.json_mode:
            print(file=self.out, flush=True)
        raise LabFailure(
            f"{what} did not happen within {timeout or self.timeout:.0f}s (last seen: {show(last) if show else last})"
        )

    # -- the lab --------------------------------------------------------------------------------

    def run(self) -> bool:
        self.say(
            f"privlink lab against {self.endpoint}: provider {PROVIDER}, consumer {CONSUMER} via {CONSUMER_ROLE}"
        )
        self.say(
            "(in the commands, $PROFILE_P and $PROFILE_C stand for --profile provider and"
            " --profile consumer; --keep prints the profiles and the variables to paste)"
        )
        try:
            self.provider_network()
            self.provider_nlb()
            self.target_group_and_listener()
            self.publish_service()
            self.verify_private_dns()
            self.allow_consumer()
            self.consumer_endpoint()
            self.accept_and_enable_private_dns()
            self.checklist()
        except LabFailure as e:
            self.failure = str(e)
            self.say(f"\nFAILED: {e}")
            self.teardown(quiet=True)
            self.close()
            return False
        except KeyboardInterrupt:  # Ctrl-C half-way: leave nothing behind, then stop
            self.say("\ninterrupted: tearing down what the lab made")
            self.teardown(quiet=True)
            self.close()
            raise
        if self.keep:
            self.print_usage()
        else:
            try:
                self.teardown()
            except LabFailure as e:
                self.failure = str(e)
                self.say(f"\nFAILED: {e}")
                return False
            finally:
                self.close()
        self.ok = True
        self.say("\nprivlink lab: every step passed.")
        return True

    def provider_network(self) -> None:
        ec2 = self.client(self.provider, "ec2")

        def go(s: Step) -> str:
            vpc = ec2.create_vpc(
                CidrBlock="10.10.0.0/16", TagSpecifications=[_tags("vpc", "pl-lab-provider")]
            )["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{i}.0/24", AvailabilityZoneId=z)[
                    "Subnet"
                ]
                for i, z in enumerate(ZONES, 1)
            ]
            self.ids.update(pvpc=vpc, psubnets=[x["SubnetId"] for x in subnets])
            described = ", ".join(
                "{} ({}/{})".format(x["SubnetId"], x["AvailabilityZone"], x["AvailabilityZoneId"])
                for x in subnets
            )
            return f"{vpc} with subnets {described}"

        self.step(
            "0",
            "provider: a VPC 10.10.0.0/16 with a subnet in two Availability Zones",
            [
                "aws ec2 create-vpc $PROFILE_P --cidr-block 10.10.0.0/16",
                "aws ec2 create-subnet $PROFILE_P --vpc-id $VPC_P --cidr-block 10.10.1.0/24 --availability-zone-id use1-az1",
                "aws ec2 create-subnet $PROFILE_P --vpc-id $VPC_P --cidr-block 10.10.2.0/24 --availability-zone-id use1-az2",
            ],
            "a VPC and two subnets in use1-az1 and use1-az2",
            go,
        )

    def provider_nlb(self) -> None:
        elb = self.client(self.provider, "elbv2")

        def go(s: Step) -> str:
            elb.create_load_balancer(
                Name=self.nlb_name, Type="network", Scheme="internal", Subnets=self.ids["psubnets"]
            )
            nlb = elb.describe_load_balancers(Names=[self.nlb_name])["LoadBalancers"][0][
                "LoadBalancerArn"
            ]
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=nlb,
                Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
            )
            self.ids["nlb"] = nlb
            lb = self.wait(
                "the load balancer to be active",
                lambda: _active(
                    elb.describe_load_balancers(LoadBalancerArns=[nlb])["LoadBalancers"][0]
                ),
            )
            attrs = {
                a["Key"]: a["Value"]
                for a in elb.describe_load_balancer_attributes(LoadBalancerArn=nlb)["Attributes"]
            }
            if attrs.get("load_balancing.cross_zone.enabled") != "true":
                raise LabFailure("cross-zone load balancing is not on")
            return f"{nlb} {lb['State']['Code']}, cross-zone true, DNS {lb['DNSName']}"

        self.step(
            "1",
            "provider: an internal NLB across two subnets, cross-zone on",
            [
                f"aws elbv2 create-load-balancer $PROFILE_P --name {self.nlb_name} --type network --scheme internal --subnets $SUBNET_PA $SUBNET_PB",
                f"NLB=$(aws elbv2 describe-load-balancers $PROFILE_P --names {self.nlb_name} --query 'LoadBalancers[0].LoadBalancerArn' --output text)",
                "aws elbv2 modify-load-balancer-attributes $PROFILE_P --load-balancer-arn $NLB --attributes Key=load_balancing.cross_zone.enabled,Value=true",
            ],
            "an NLB ARN; cross-zone attribute true",
            go,
        )

    def start_target(self) -> str:
        cmd = [
            sys.executable,
            "-m",
            "privlink",
            "target",
            "--vpc",
            self.ids["pvpc"],
            "--ip",
            TARGET_IP,
            "--port",
            str(PORT),
            "--tls",
            "--tls-name",
            PRIVATE_NAME,
            "--health-path",
            "/healthz",
            "--endpoint-url",
            self.endpoint,
        ]
        # the target logs a line per connection: to a file, never to a pipe nobody reads
        # (a full pipe would block it while --keep leaves it running)
        self.workdir = self.workdir or tempfile.mkdtemp(prefix="privlink-lab-")
        self.target_log = os.path.join(self.workdir, "target.log")
        with open(self.target_log, "w") as log:
            self.target_proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + 30
        while True:
            with open(self.target_log) as f:
                text = f.read()
            up = [ln for ln in text.splitlines(True) if ln.startswith("privlink target listening")]
            if up and up[0].endswith("\n"):
                return up[0].strip()
            if self.target_proc.poll() is not None or time.monotonic() > deadline:
                self._stop_target()
                raise LabFailure(f"privlink target did not start: {text.strip() or 'no output'}")
            time.sleep(0.05)

    def target_group_and_listener(self) -> None:
        elb = self.client(self.provider, "elbv2")

        def go(s: Step) -> str:
            tg = elb.create_target_group(
                Name=self.tg_name,
                Protocol="TCP",
                Port=PORT,
                VpcId=self.ids["pvpc"],
                TargetType="ip",
                HealthCheckProtocol="TCP",
                HealthCheckIntervalSeconds=5,
                HealthyThresholdCount=2,
                UnhealthyThresholdCount=2,
            )["TargetGroups"][0]["TargetGroupArn"]
            self.ids["tg"] = tg
            elb.modify_target_group_attributes(
                TargetGroupArn=tg,
                Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}],
            )
            started = self.start_target()
            elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": TARGET_IP}])
            listener = elb.create_listener(
                LoadBalancerArn=self.ids["nlb"],
                Protocol="TCP",
                Port=PORT,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
            )["Listeners"][0]["ListenerArn"]
            self.ids["listener"] = listener
            if self.fault == "kill-target":
                self.target_proc.kill()
            health = self.wait(
                "the target to be healthy",
                lambda: _healthy(
                    elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
                ),
                show=lambda _: elb.describe_target_health(TargetGroupArn=tg)[
                    "TargetHealthDescriptions"
                ][0]["TargetHealth"],
            )
            return f"target {TARGET_IP}:{PORT} {health} ({started}); listener TCP:{PORT}"

        try:
            self.step(
                "2",
                "provider: target group with a TCP health check, a TLS target process, a TCP listener",
                [
                    f"TG=$(aws elbv2 create-target-group $PROFILE_P --name {self.tg_name} --protocol TCP --port 8443 --vpc-id $VPC_P --target-type ip --query 'TargetGroups[0].TargetGroupArn' --output text)",
                    "aws elbv2 modify-target-group-attributes $PROFILE_P --target-group-arn $TG --attributes Key=proxy_protocol_v2.enabled,Value=true",
                    f"privlink target --tls --vpc $VPC_P --ip {TARGET_IP} --port {PORT} &",
                    f"aws elbv2 register-targets $PROFILE_P --target-group-arn $TG --targets Id={TARGET_IP}",
                    "aws elbv2 create-listener $PROFILE_P --load-balancer-arn $NLB --protocol TCP --port 8443 --default-actions Type=forward,TargetGroupArn=$TG",
                    "aws elbv2 describe-target-health $PROFILE_P --target-group-arn $TG",
                ],
                "the target goes initial -> healthy",
                go,
            )
        except LabFailure as e:
            if "is unhealthy" in str(e) or "to be healthy" in str(e):
                detail = str(e).split("failed: ", 1)[-1]
                raise LabFailure(
                    f"step 2 (target health) failed: the target {detail} — nothing answers the "
                    "health checks at its address; is the target process running?"
                ) from None
            raise

    def publish_service(self) -> None:
        ec2 = self.client(self.provider, "ec2")

        def go(s: Step) -> str:
            cfg = ec2.create_vpc_endpoint_service_configuration(
                NetworkLoadBalancerArns=[self.ids["nlb"]],
                AcceptanceRequired=True,
                PrivateDnsName=PRIVATE_NAME,
            )["ServiceConfiguration"]
            sid = cfg["ServiceId"]
            self.ids["sid"] = sid
            cfg = self.wait(
                "the endpoint service to be Available",
                lambda: _available_service(
                    ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
                        "ServiceConfigurations"
                    ][0]
                ),
            )
            self.ids["service_name"] = cfg["ServiceName"]
            self.ids["dns_config"] = cfg["PrivateDnsNameConfiguration"]
            return f"{sid} {cfg['ServiceState']}; share this: {cfg['ServiceName']}"

        self.step(
            "3",
            "provider: publish the endpoint service (acceptance required, private DNS name)",
            [
                f"SVC=$(aws ec2 create-vpc-endpoint-service-configuration $PROFILE_P --network-load-balancer-arns $NLB --acceptance-required --private-dns-name {PRIVATE_NAME} --query 'ServiceConfiguration.ServiceId' --output text)",
                "SVC_NAME=$(aws ec2 describe-vpc-endpoint-service-configurations $PROFILE_P --service-ids $SVC --query 'ServiceConfigurations[0].ServiceName' --output text)",
            ],
            "a vpce-svc-… id and a com.amazonaws.vpce.us-east-1.vpce-svc-… name",
            go,
        )

    def verify_private_dns(self) -> None:
        ec2 = self.client(self.provider, "ec2")
        r53 = self.client(self.provider, "route53")

        def go(s: Step) -> str:
            conf = self.ids["dns_config"]
            # the domain's public zone: the one already there (an earlier run's, kept), else
            # a new one — a second public zone of the same name would not be the one the
            # public DNS answers from, as in AWS
            zones = [
                z
                for z in r53.list_hosted_zones_by_name(DNSName=DOMAIN)["HostedZones"]
                if z["Name"] == DOMAIN + "." and not z.get("Config", {}).get("PrivateZone")
            ]
            if zones:
                zone = zones[0]["Id"]
            else:
                zone = r53.create_hosted_zone(
                    Name=DOMAIN, CallerReference=f"pl-lab-{self.run_id}-{time.time()}"
                )["HostedZone"]["Id"]
                self.ids["zone_created"] = "yes"
            self.ids["zone"] = zone.split("/")[-1]
            record = f"{conf['Name']}.{PRIVATE_NAME}"
            self.ids["txt_record"] = record
            r53.change_resource_record_sets(
                HostedZoneId=self.ids["zone"],
                ChangeBatch={
                    "Changes": [
                        {
                            "Action": "UPSERT",
                            "ResourceRecordSet": {
                                "Name": record,
                                "Type": "TXT",
                                "TTL": 1800,
                                "ResourceRecords": [{"Value": f'"{conf["Value"]}"'}],
                            },
                        }
                    ]
                },
            )
            ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=self.ids["sid"])
            state = self.wait(
                "the private DNS name to be verified",
                lambda: _dns_state(ec2, self.ids["sid"], "verified"),
            )
            return f"TXT {record} = {conf['Value']} in public zone {DOMAIN}; state {state}"

        self.step(
            "3b",
            "provider: prove ownership of the private DNS name (TXT record, verification)",
            [
                "aws ec2 describe-vpc-endpoint-service-configurations $PROFILE_P --service-ids $SVC --query 'ServiceConfigurations[0].PrivateDnsNameConfiguration'",
                f"ZONE=$(aws route53 create-hosted-zone $PROFILE_P --name {DOMAIN} --caller-reference pl-lab-$RANDOM --query HostedZone.Id --output text)   # or the {DOMAIN} public zone already there",
                f'aws route53 change-resource-record-sets $PROFILE_P --hosted-zone-id $ZONE --change-batch \'{{"Changes":[{{"Action":"UPSERT","ResourceRecordSet":{{"Name":"_<token>.{PRIVATE_NAME}","Type":"TXT","TTL":1800,"ResourceRecords":[{{"Value":"\\"vpce:<value>\\""}}]}}}}]}}\'',
                "aws ec2 start-vpc-endpoint-service-private-dns-verification $PROFILE_P --service-id $SVC",
            ],
            "pendingVerification -> verified",
            go,
        )

    def allow_consumer(self) -> None:
        ec2 = self.client(self.provider, "ec2")

        def go(s: Step) -> str:
            ec2.modify_vpc_endpoint_service_permissions(
                ServiceId=self.ids["sid"], AddAllowedPrincipals=[CONSUMER_ROLE]
            )
            sts = self.client(self.consumer_base, "sts")
            creds = sts.assume_role(RoleArn=CONSUMER_ROLE, RoleSessionName="pl-lab")["Credentials"]
            self.consumer = self._session(
                creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
            )
            who = self.client(self.consumer, "sts").get_caller_identity()["Arn"]
            cec2 = self.client(self.consumer, "ec2")
            seen = cec2.describe_vpc_endpoint_services(ServiceNames=[self.ids["service_name"]])[
                "ServiceDetails"
            ][0]
            return f"{CONSUMER_ROLE} allowed; the consumer ({who}) now sees the service in {', '.join(seen['AvailabilityZones'])}"

        self.step(
            "4",
            "provider: allow the consumer's role",
            [
                f"aws ec2 modify-vpc-endpoint-service-permissions $PROFILE_P --service-id $SVC --add-allowed-principals {CONSUMER_ROLE}",
                "aws sts get-caller-identity $PROFILE_C   # the consumer profile assumes the role (sts assume-role)",
            ],
            "the consumer can now see the service",
            go,
        )

    def consumer_endpoint(self) -> None:
        ec2 = self.client(self.consumer, "ec2")

        def go(s: Step) -> str:
            vpc = ec2.create_vpc(
                CidrBlock="10.10.0.0/16", TagSpecifications=[_tags("vpc", "pl-lab-consumer")]
            )["Vpc"]["VpcId"]
            ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
            served = ec2.describe_vpc_endpoint_services(ServiceNames=[self.ids["service_name"]])[
                "ServiceDetails"
            ][0]["AvailabilityZoneIds"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{i}.0/24", AvailabilityZoneId=z)[
                    "Subnet"
                ]["SubnetId"]
                for i, z in enumerate(served, 1)
            ]
            sg = ec2.create_security_group(
                GroupName="lab-endpoint",
                Description="clients to the PrivateLink endpoint",
                VpcId=vpc,
            )["GroupId"]
            ec2.authorize_security_group_ingress(
                GroupId=sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": PORT,
                        "ToPort": PORT,
                        "IpRanges": [{"CidrIp": "10.10.0.0/16"}],
                    }
                ],
            )
            ep = ec2.create_vpc_endpoint(
                VpcId=vpc,
                VpcEndpointType="Interface",
                ServiceName=self.ids["service_name"],
                SubnetIds=subnets,
                SecurityGroupIds=[sg],
                PrivateDnsEnabled=False,
            )["VpcEndpoint"]
            self.ids.update(cvpc=vpc, csubnets=subnets, sg=sg, ep=ep["VpcEndpointId"])
            # flow logs on the endpoint's ENIs, for the checklist's last check
            logs = self.client(self.consumer, "logs")
            logs.create_log_group(logGroupName=self.log_group)
            self.ids["log_group"] = self.log_group
            fl = ec2.create_flow_logs(
                ResourceType="NetworkInterface",
                ResourceIds=ep["NetworkInterfaceIds"],
                TrafficType="ALL",
                LogGroupName=self.log_group,
                DeliverLogsPermissionArn=f"arn:aws:iam::{CONSUMER}:role/flow-logs",
                MaxAggregationInterval=60,
            )
            self.ids["flow_logs"] = fl["FlowLogIds"]
            if ep["State"] != "pendingAcceptance":
                raise LabFailure(f"the endpoint is {ep['State']}, not pendingAcceptance")
            return f"{ep['VpcEndpointId']} {ep['State']} in {', '.join(served)} (chosen by AZ ID); endpoint SG {sg} allows tcp/{PORT}"

        self.step(
            "5",
            "consumer: an interface endpoint in the AZs the service serves (chosen by AZ ID)",
            [
                "VPC_C=$(aws ec2 create-vpc $PROFILE_C --cidr-block 10.10.0.0/16 --query Vpc.VpcId --output text)",
                "aws ec2 modify-vpc-attribute $PROFILE_C --vpc-id $VPC_C --enable-dns-hostnames",
                "aws ec2 describe-vpc-endpoint-services $PROFILE_C --service-names $SVC_NAME --query 'ServiceDetails[0].AvailabilityZoneIds'",
                "SUBNET_CA=$(aws ec2 create-subnet $PROFILE_C --vpc-id $VPC_C --cidr-block 10.10.1.0/24 --availability-zone-id <first AZ ID> --query Subnet.SubnetId --output text)   # and SUBNET_CB in 10.10.2.0/24, the second",
                "SG=$(aws ec2 create-security-group $PROFILE_C --group-name lab-endpoint --description 'clients to the PrivateLink endpoint' --vpc-id $VPC_C --query GroupId --output text)",
                f"aws ec2 authorize-security-group-ingress $PROFILE_C --group-id $SG --protocol tcp --port {PORT} --cidr 10.10.0.0/16",
                "EP=$(aws ec2 create-vpc-endpoint $PROFILE_C --vpc-id $VPC_C --vpc-endpoint-type Interface --service-name \"$SVC_NAME\" --subnet-ids $SUBNET_CA $SUBNET_CB --security-group-ids $SG --no-private-dns-enabled --query 'VpcEndpoint.VpcEndpointId' --output text)",
                f"aws logs create-log-group $PROFILE_C --log-group-name {self.log_group}",
                f"aws ec2 create-flow-logs $PROFILE_C --resource-type NetworkInterface --resource-ids <the endpoint's ENIs> --traffic-type ALL --log-group-name {self.log_group} --deliver-logs-permission-arn arn:aws:iam::{CONSUMER}:role/flow-logs",
            ],
            "an endpoint id; state pendingAcceptance",
            go,
        )

    def accept_and_enable_private_dns(self) -> None:
        pec2 = self.client(self.provider, "ec2")
        cec2 = self.client(self.consumer, "ec2")

        def go(s: Step) -> str:
            out = pec2.accept_vpc_endpoint_connections(
                ServiceId=self.ids["sid"], VpcEndpointIds=[self.ids["ep"]]
            )
            if out["Unsuccessful"]:
                raise LabFailure(f"accept failed: {out['Unsuccessful']}")
            self.wait(
                "the endpoint to be available",
                lambda: _endpoint(cec2, self.ids["ep"])["State"] == "available",
                show=lambda _: _endpoint(cec2, self.ids["ep"])["State"],
            )
            cec2.modify_vpc_endpoint(VpcEndpointId=self.ids["ep"], PrivateDnsEnabled=True)
            ep = _endpoint(cec2, self.ids["ep"])
            return f"{ep['VpcEndpointId']} {ep['State']}, private DNS {ep['PrivateDnsEnabled']}"

        self.step(
            "6",
            "provider accepts; consumer enables private DNS",
            [
                "aws ec2 accept-vpc-endpoint-connections $PROFILE_P --service-id $SVC --vpc-endpoint-ids $EP",
                "aws ec2 modify-vpc-endpoint $PROFILE_C --vpc-endpoint-id $EP --private-dns-enabled",
            ],
            "the endpoint flips to available; private DNS on",
            go,
        )

    # -- the checklist ------------------------------------------------------------------

    def checklist(self) -> None:
        pec2 = self.client(self.provider, "ec2")
        cec2 = self.client(self.consumer, "ec2")

        def check1(s: Step) -> str:
            cfg = pec2.describe_vpc_endpoint_service_configurations(ServiceIds=[self.ids["sid"]])[
                "ServiceConfigurations"
            ][0]
            got = [
                cfg["ServiceState"],
                cfg["PrivateDnsNameConfiguration"]["State"],
                cfg["AvailabilityZones"],
            ]
            if got[0] != "Available" or got[1] != "verified" or len(got[2]) != 2:
                raise LabFailure(f"{got}")
            return json.dumps(got)

        self.step(
            "check 1",
            "service Available + DNS verified + AZs",
            [
                "aws ec2 describe-vpc-endpoint-service-configurations $PROFILE_P --service-ids $SVC --query 'ServiceConfigurations[0].[ServiceState,PrivateDnsNameConfiguration.State,AvailabilityZones]'"
            ],
            "Available, verified, AZs listed",
            check1,
        )

        def check2(s: Step) -> str:
            conns = pec2.describe_vpc_endpoint_connections(
                Filters=[{"Name": "service-id", "Values": [self.ids["sid"]]}]
            )["VpcEndpointConnections"]
            got = [[c["VpcEndpointOwner"], c["VpcEndpointState"]] for c in conns]
            if got != [[CONSUMER, "available"]]:
                raise LabFailure(json.dumps(got))
            return json.dumps(got)

        self.step(
            "check 2",
            "connection accepted",
            [
                "aws ec2 describe-vpc-endpoint-connections $PROFILE_P --filters Name=service-id,Values=$SVC --query 'VpcEndpointConnections[].[VpcEndpointOwner,VpcEndpointState]'"
            ],
            f"available for {CONSUMER}",
            check2,
        )

        def check3(s: Step) -> str:
            ep = _endpoint(cec2, self.ids["ep"])
            got = [
                ep["State"],
                ep["NetworkInterfaceIds"],
                ep["DnsEntries"][0]["DnsName"] if ep["DnsEntries"] else None,
            ]
            if got[0] != "available" or len(got[1]) != 2 or not got[2]:
                raise LabFailure(json.dumps(got))
            self.ids["regional_name"] = got[2]
            return json.dumps(got)

        self.step(
            "check 3",
            "endpoint up with ENIs in each AZ and DNS entries",
            [
                "aws ec2 describe-vpc-endpoints $PROFILE_C --vpc-endpoint-ids $EP --query 'VpcEndpoints[0].[State,NetworkInterfaceIds,DnsEntries[0].DnsName]'"
            ],
            "available, 2 ENIs, a DNS entry",
            check3,
        )

        def check4(s: Step) -> str:
            where = _get_json(f"{self.endpoint}/_privlink/dns?vpc={self.ids['cvpc']}")
            self.ids["resolver"] = (where["address"], where["port"])
            enis = cec2.describe_network_interfaces(
                NetworkInterfaceIds=_endpoint(cec2, self.ids["ep"])["NetworkInterfaceIds"]
            )["NetworkInterfaces"]
            vpc_ips = sorted(e["PrivateIpAddress"] for e in enis)
            want = sorted(
                _get_json(f"{self.endpoint}/_privlink/addr?vpc={self.ids['cvpc']}&ip={ip}")[
                    "host_address"
                ]
                for ip in vpc_ips
            )
            got = self.wait(
                "the friendly name to resolve to the ENIs",
                lambda: _resolve(self.ids["resolver"], PRIVATE_NAME) == want and want,
            )
            self.ids["friendly_addresses"] = got
            return f"{PRIVATE_NAME} -> {', '.join(got)} (the ENIs {', '.join(vpc_ips)} in the consumer VPC, as this machine dials them)"

        self.step(
            "check 4",
            "DNS in the consumer VPC resolves the friendly name to the ENIs",
            [
                f"dig @$(privlink dns $VPC_C | cut -d' ' -f1) -p $(privlink dns $VPC_C | cut -d' ' -f2) +short {PRIVATE_NAME}"
            ],
            "the endpoint ENI addresses",
            check4,
        )

        def check5(s: Step) -> str:
            address = self.ids["friendly_addresses"][0]
            status, body = _https_get(address, PORT, PRIVATE_NAME, "/healthz")
            if status != 200:
                raise LabFailure(f"HTTP {status}")
            info = json.loads(body)
            pp = info.get("proxy_protocol") or {}
            if not pp:
                raise LabFailure(
                    "the target got no PROXY v2 header although the target group enables it"
                )
            src = pp["source"]
            if pp.get("aws_vpce_id") != self.ids["ep"]:
                raise LabFailure(
                    f"the PROXY v2 header names endpoint {pp.get('aws_vpce_id')}, not {self.ids['ep']}"
                )
            return (
                f"HTTP 200 from the target; its PROXY v2 header says client {src['address']}:{src['port']} "
                f"(the consumer VPC address of this machine's client), endpoint {pp['aws_vpce_id']}"
            )

        self.step(
            "check 5",
            "the service answers through the friendly name",
            [
                f"curl -sk --resolve {PRIVATE_NAME}:{PORT}:<address from check 4> -o /dev/null -w '%{{http_code}}\\n' https://{PRIVATE_NAME}:{PORT}/healthz"
            ],
            "200 from /healthz",
            check5,
        )

        def check6(s: Step) -> str:
            logs = self.client(self.consumer, "logs")

            def records():
                events = logs.filter_log_events(logGroupName=self.log_group)["events"]
                return events

            events = self.wait(
                "flow log records from the endpoint ENIs", records, timeout=max(self.timeout, 90)
            )
            rejects = [e["message"] for e in events if " REJECT " in e["message"]]
            if rejects:
                raise LabFailure(f"{len(rejects)} REJECT record(s), e.g. {rejects[0]}")
            return f"{len(events)} records, all ACCEPT (e.g. {events[0]['message']})"

        self.step(
            "check 6",
            "no REJECTs at the endpoint ENIs",
            [
                f"aws logs filter-log-events $PROFILE_C --log-group-name {self.log_group} --filter-pattern '[version, account, eni, source, destination, srcport, destport, protocol, packets, bytes, windowstart, windowend, action=\"REJECT\", flowlogstatus]'"
            ],
            "zero REJECT rows from the client",
            check6,
        )

    # -- teardown ------------------------------------------------------------------------

    def teardown(self, quiet: bool = False) -> None:
        if self.consumer is None and not self.ids:
            self._stop_target()
            return

        def go(s: Step) -> str:
            done = []
            cec2 = self.client(self.consumer, "ec2") if self.consumer else None
            pec2 = self.client(self.provider, "ec2")
            elb = self.client(self.provider, "elbv2")
            if cec2 and self.ids.get("ep"):
                cec2.delete_vpc_endpoints(VpcEndpointIds=[self.ids["ep"]])
                self.wait(
                    "the endpoint to be deleted",
                    lambda: _endpoint(cec2, self.ids["ep"])["State"] == "deleted",
                    timeout=30,
                )
                done.append("endpoint")
            if self.ids.get("sid"):
                out = pec2.delete_vpc_endpoint_service_configurations(ServiceIds=[self.ids["sid"]])
                if out["Unsuccessful"]:
                    raise LabFailure(
                        f"deleting the service: {out['Unsuccessful'][0]['Error']['Message']}"
                    )
                self.wait(
                    "the service to go away",
                    lambda: (
                        not any(
                            c["ServiceId"] == self.ids["sid"]
                            for c in pec2.describe_vpc_endpoint_service_configurations()[
                                "ServiceConfigurations"
                            ]
                        )
                    ),
                    timeout=30,
                )
                done.append("service")
            if self.ids.get("listener"):
                elb.delete_listener(ListenerArn=self.ids["listener"])
                done.append("listener")
            if self.ids.get("tg"):
                elb.delete_target_group(TargetGroupArn=self.ids["tg"])
                done.append("target group")
            if self.ids.get("nlb"):
                elb.delete_load_balancer(LoadBalancerArn=self.ids["nlb"])
                done.append("load balancer")
            self._stop_target()
            if cec2 and self.ids.get("cvpc"):
                if self.ids.get("flow_logs"):
                    cec2.delete_flow_logs(FlowLogIds=self.ids["flow_logs"])
                if self.ids.get("log_group"):
                    logs = self.client(self.consumer, "logs")
                    logs.delete_log_group(logGroupName=self.ids["log_group"])
                    done.append("flow logs")
                _delete_vpc(cec2, self.ids["cvpc"])
                done.append("consumer VPC")
            if self.ids.get("zone"):
                r53 = self.client(self.provider, "route53")
                zid = self.ids["zone"]
                mine = self.ids.get("txt_record", "").rstrip(".") + "."
                for rr in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]:
                    if rr["Type"] == "TXT" and rr["Name"] == mine:
                        r53.change_resource_record_sets(
                            HostedZoneId=zid,
                            ChangeBatch={
                                "Changes": [{"Action": "DELETE", "ResourceRecordSet": rr}]
                            },
                        )
                if self.ids.get("zone_created"):
                    left = r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
                    if all(rr["Type"] in ("NS", "SOA") for rr in left):
                        r53.delete_hosted_zone(Id=zid)
            if self.ids.get("pvpc"):
                _delete_vpc(pec2, self.ids["pvpc"])
                done.append("provider VPC")
            return "deleted " + ", ".join(done)

        if quiet:
            try:
                go(Step("7", "teardown"))
            except Exception:
                pass
            finally:
                self._stop_target()
            return
        self.step(
            "7",
            "teardown, in order: endpoint before service",
            [
                "aws ec2 delete-vpc-endpoints $PROFILE_C --vpc-endpoint-ids $EP",
                "aws ec2 delete-vpc-endpoint-service-configurations $PROFILE_P --service-ids $SVC",
                "aws elbv2 delete-listener $PROFILE_P --listener-arn $LISTENER",
                "aws elbv2 delete-target-group $PROFILE_P --target-group-arn $TG",
                "aws elbv2 delete-load-balancer $PROFILE_P --load-balancer-arn $NLB",
                f"aws ec2 delete-flow-logs $PROFILE_C ...; aws logs delete-log-group $PROFILE_C --log-group-name {self.log_group}",
                "aws ec2 delete-security-group / delete-subnet / delete-vpc for $VPC_C ($PROFILE_C) and $VPC_P ($PROFILE_P); the TXT record from $ZONE",
            ],
            "everything deleted",
            go,
        )

    def _stop_target(self) -> None:
        p = self.target_proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.target_proc = None

    def close(self) -> None:
        """Stop the target and remove the lab's files (when nothing is left running)."""
        self._stop_target()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def usage_lines(self) -> list[str]:
        """Shell lines that use what --keep leaves running: the endpoint, the two accounts as
        aws CLI profiles (the consumer's through its role), the variables the printed step
        commands use, and example aws, dig and curl commands."""
        self.workdir = self.workdir or tempfile.mkdtemp(prefix="privlink-lab-")
        config = os.path.join(self.workdir, "aws-config")
        with open(config, "w") as f:
            f.write(
                f"[profile provider]\nregion = {REGION}\n"
                f"aws_access_key_id = {PROVIDER}\naws_secret_access_key = x\n\n"
                f"[profile consumer-base]\nregion = {REGION}\n"
                f"aws_access_key_id = {CONSUMER}\naws_secret_access_key = x\n\n"
                f"[profile consumer]\nregion = {REGION}\nrole_arn = {CONSUMER_ROLE}\n"
                "source_profile = consumer-base\n"
                # the aws CLI caches assumed-role credentials (~/.aws/cli/cache) by role and
                # session name: a name of this run's keeps another server's session out
                f"role_session_name = pl-lab-{self.run_id}\n"
            )
        ids = self.ids
        variables = {
            "VPC_P": ids.get("pvpc"),
            "SUBNET_PA": (ids.get("psubnets") or [None])[0],
            "SUBNET_PB": (ids.get("psubnets") or [None, None])[-1],
            "NLB": ids.get("nlb"),
            "TG": ids.get("tg"),
            "LISTENER": ids.get("listener"),
            "SVC": ids.get("sid"),
            "SVC_NAME": ids.get("service_name"),
            "ZONE": ids.get("zone"),
            "VPC_C": ids.get("cvpc"),
            "SUBNET_CA": (ids.get("csubnets") or [None])[0],
            "SUBNET_CB": (ids.get("csubnets") or [None, None])[-1],
            "SG": ids.get("sg"),
            "EP": ids.get("ep"),
        }
        resolver = ids.get("resolver", ("ADDRESS", "PORT"))
        address = (ids.get("friendly_addresses") or ["ADDRESS"])[0]
        return [
            f"export AWS_ENDPOINT_URL={self.endpoint} AWS_DEFAULT_REGION={REGION}",
            f"export AWS_CONFIG_FILE={config}  # profiles provider, consumer-base, consumer (the assumed role)",
            'PROFILE_P="--profile provider" PROFILE_C="--profile consumer"',
            " ".join(f"{k}={v}" for k, v in variables.items() if v),
            "aws sts get-caller-identity $PROFILE_C --query Arn --output text",
            "aws ec2 describe-vpc-endpoint-connections $PROFILE_P --filters Name=service-id,Values=$SVC --query 'VpcEndpointConnections[].[VpcEndpointId,VpcEndpointState]' --output text",
            "aws ec2 describe-vpc-endpoints $PROFILE_C --vpc-endpoint-ids $EP --query 'VpcEndpoints[0].[State,PrivateDnsEnabled]' --output text",
            f"# the consumer VPC's resolver: privlink dns $VPC_C -> {resolver[0]} {resolver[1]}",
            f"dig @{resolver[0]} -p {resolver[1]} +short {PRIVATE_NAME}",
            f"curl -sk --resolve {PRIVATE_NAME}:{PORT}:{address} https://{PRIVATE_NAME}:{PORT}/healthz",
            f"tail {self.target_log}  # the target (pid {self.target_proc.pid}): one line per"
            " connection, with the PROXY v2 client"
            if getattr(self, "target_log", None) and self.target_proc is not None
            else "",
        ]

    def print_usage(self) -> None:
        lines = "\n".join(f"  {ln}" for ln in self.usage_lines() if ln)
        self.say(
            "\nEverything is still running (--keep). Paste these lines into a shell to use it"
            " (the step commands above then work as printed):\n\n" + lines
        )

    def report(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "ok": all(s.ok for s in self.steps) and bool(self.steps),
            "failure": getattr(self, "failure", None),
            "steps": [s.as_dict() for s in self.steps],
            "ids": {k: v for k, v in self.ids.items() if isinstance(v, str | list)},
            "keep": [ln for ln in self.usage_lines() if ln] if self.keep and self.ok else None,
        }


# -- small helpers ------------------------------------------------------------------------


def _tags(rtype: str, name: str) -> dict:
    return {"ResourceType": rtype, "Tags": [{"Key": "Name", "Value": name}]}


def _active(lb: dict):
    return lb if lb["State"]["Code"] == "active" else None


def _healthy(descs: list[dict]):
    if descs and all(d["TargetHealth"]["State"] == "healthy" for d in descs):
        return "healthy"
    for d in descs:
        h = d["TargetHealth"]
        if h["State"] == "unhealthy":
            raise TargetUnhealthy(
                f"{d['Target']['Id']}:{d['Target'].get('Port', PORT)} is unhealthy ({h.get('Reason')})"
            )
    return None


class TargetUnhealthy(LabFailure):
    pass


def _available_service(cfg: dict):
    if cfg["ServiceState"] == "Failed":
        raise LabFailure("the endpoint service failed")
    return cfg if cfg["ServiceState"] == "Available" else None


def _dns_state(ec2, sid: str, want: str):
    state = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])[
        "ServiceConfigurations"
    ][0]["PrivateDnsNameConfiguration"]["State"]
    if state == "failed":
        raise LabFailure("private DNS verification failed: the TXT record was not found")
    return state if state == want else None


def _endpoint(ec2, eid: str) -> dict:
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]


def _get_json(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _resolve(resolver: tuple[str, int], name: str) -> list[str]:
    import dns.exception
    import dns.message
    import dns.query
    import dns.rdatatype

    q = dns.message.make_query(name, dns.rdatatype.A)
    try:
        r = dns.query.udp(q, resolver[0], port=resolver[1], timeout=2)
    except (dns.exception.Timeout, OSError):
        return []
    return sorted(str(rd) for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A)


def _https_get(address: str, port: int, host: str, path: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the target's certificate is self-signed
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as s,
    ):
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


def _delete_vpc(ec2, vpc_id: str) -> None:
    for sg in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "SecurityGroups"
    ]:
        if sg["GroupName"] != "default":
            ec2.delete_security_group(GroupId=sg["GroupId"])
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)


__all__ = ["Lab", "LabFailure", "os"]

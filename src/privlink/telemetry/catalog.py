"""The AWS metrics privlink publishes from its data plane and health checks, and how each is
aggregated — the contract between the layers that feed :class:`~.sink.MetricsSink` and the
CloudWatch API that reads it back.

Three kinds, three ways to feed the sink (handles from ``sink.counter(...)`` /
``sink.gauge(...)``; the one-off ``sink.add`` / ``gauge_add`` / ``gauge_set`` /
``observe`` do the same):

* ``counter`` — something that happens (a new flow, bytes moved, a reset). Feed with
  ``counter.add(n)`` once per event, or with the amount moved since the last report (a
  collector registered with ``sink.add_collector`` runs before every flush for that);
  CloudWatch users read **Sum** per minute. Prometheus shows the running total.
* ``gauge`` — a level (flows open, healthy targets). Feed with ``gauge.move(+1 / -1)`` or
  ``gauge.set(n)``; the sink samples every live gauge at each flush tick (every
  ``timing.metrics_flush_interval`` seconds, default 2), so a minute's **Average** is the
  mean level, **Maximum** / **Minimum** the extremes sampled and **SampleCount** the number
  of samples. Prometheus shows the current level.
* ``peak`` — a measured rate whose useful statistic is **Maximum** (PeakBytesPerSecond:
  the data plane computes bytes per second over ``timing.peak_bytes_window`` (10 s) windows
  per load balancer and zone, and reports each window
  with ``counter.observe(v)``). Prometheus shows the last value.

AWS publishes these at one-minute granularity, only while there is traffic (no zero
datapoints) — except HealthyHostCount / UnHealthyHostCount, reported every minute for each
target group attached to a load balancer, and EndpointsCount (the available endpoints of each
endpoint service, set by the data plane on every reconcile).

Dimension sets (each metric is published once per set, as AWS does; the sink stores exactly
the dimensions it is given, so the feeding layer reports each combination):

========================  ========================================================================
namespace                 dimension sets
========================  ========================================================================
AWS/NetworkELB            {LoadBalancer}, {AvailabilityZone, LoadBalancer}; HealthyHostCount and
                          UnHealthyHostCount: {LoadBalancer, TargetGroup},
                          {AvailabilityZone, LoadBalancer, TargetGroup}
AWS/PrivateLinkEndpoints  {Endpoint Type, Service Name, VPC Endpoint Id, VPC Id},
                          {Endpoint Type, Service Name, Subnet Id, VPC Endpoint Id, VPC Id}
AWS/PrivateLinkServices   {Service Id}, {Az, Service Id}, {Load Balancer Arn, Service Id},
                          {Az, Load Balancer Arn, Service Id}, {Service Id, VPC Endpoint Id};
                          EndpointsCount: {Service Id}
========================  ========================================================================

Dimension values: LoadBalancer ``net/<name>/<id>`` (the ARN after ``loadbalancer/``),
TargetGroup ``targetgroup/<name>/<id>``, AvailabilityZone the zone *name* (us-east-1a) in the
load balancer owner's account, Endpoint Type ``Interface``, Service Name
``com.amazonaws.vpce.<region>.vpce-svc-…``, Load Balancer Arn the full ARN, Az the zone name.
AWS/NetworkELB and AWS/PrivateLinkServices belong to the provider's (account, region);
AWS/PrivateLinkEndpoints to the endpoint owner's. The PrivateLink combination lists follow
the PrivateLink user guide; the reference marks the exact lists as not fully confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    namespace: str
    name: str
    kind: str  # counter | gauge | peak
    unit: str
    statistic: str  # the statistic AWS calls most useful
    help: str


_NLB = "AWS/NetworkELB"
_EP = "AWS/PrivateLinkEndpoints"
_SVC = "AWS/PrivateLinkServices"

METRICS: dict[tuple[str, str], MetricInfo] = {
    (m.namespace, m.name): m
    for m in [
        MetricInfo(_NLB, "ActiveFlowCount", "gauge", "Count", "Average",
                   "Concurrent flows (connections) from clients to targets."),
        MetricInfo(_NLB, "ActiveFlowCount_TCP", "gauge", "Count", "Average",
                   "Concurrent TCP flows from clients to targets."),
        MetricInfo(_NLB, "ActiveFlowCount_TLS", "gauge", "Count", "Average",
                   "Concurrent TLS flows from clients to targets."),
        MetricInfo(_NLB, "NewFlowCount", "counter", "Count", "Sum",
                   "New flows (connections) established from clients to targets."),
        MetricInfo(_NLB, "NewFlowCount_TCP", "counter", "Count", "Sum",
                   "New TCP flows established from clients to targets."),
        MetricInfo(_NLB, "NewFlowCount_TLS", "counter", "Count", "Sum",
                   "New TLS flows established from clients to targets."),
        MetricInfo(_NLB, "ProcessedBytes", "counter", "Bytes", "Sum",
                   "Bytes processed by the load balancer, both directions."),
        MetricInfo(_NLB, "ProcessedBytes_TCP", "counter", "Bytes", "Sum",
                   "Bytes processed by TCP listeners."),
        MetricInfo(_NLB, "ProcessedBytes_TLS", "counter", "Bytes", "Sum",
                   "Bytes processed by TLS listeners."),
        MetricInfo(_NLB, "ProcessedPackets", "counter", "Count", "Sum",
                   "Packets processed by the load balancer."),
        MetricInfo(_NLB, "PeakBytesPerSecond", "peak", "Bytes/Second", "Maximum",
                   "Highest average throughput over 10-second windows."),
        MetricInfo(_NLB, "HealthyHostCount", "gauge", "Count", "Maximum",
                   "Targets considered healthy."),
        MetricInfo(_NLB, "UnHealthyHostCount", "gauge", "Count", "Maximum",
                   "Targets considered unhealthy."),
        MetricInfo(_NLB, "TCP_Client_Reset_Count", "counter", "Count", "Sum",
                   "Reset (RST) packets sent from a client to a target."),
        MetricInfo(_NLB, "TCP_Target_Reset_Count", "counter", "Count", "Sum",
                   "Reset (RST) packets sent from a target to a client."),
        MetricInfo(_NLB, "TCP_ELB_Reset_Count", "counter", "Count", "Sum",
                   "Reset (RST) packets generated by the load balancer (idle timeout …)."),
        MetricInfo(_EP, "ActiveConnections", "gauge", "Count", "Average",
                   "Concurrent active connections through the endpoint."),
        MetricInfo(_EP, "BytesProcessed", "counter", "Bytes", "Sum",
                   "Bytes exchanged between the endpoint and the service, both directions."),
        MetricInfo(_EP, "NewConnections", "counter", "Count", "Sum",
                   "New connections established through the endpoint."),
        MetricInfo(_EP, "PacketsDropped", "counter", "Count", "Sum",
                   "Packets dropped by the endpoint (e.g. refused by its security group)."),
        MetricInfo(_EP, "RstPacketsReceived", "counter", "Count", "Sum",
                   "RST packets the endpoint received from the service."),
        MetricInfo(_SVC, "ActiveConnections", "gauge", "Count", "Average",
                   "Concurrent active connections from clients to targets through endpoints."),
        MetricInfo(_SVC, "BytesProcessed", "counter", "Bytes", "Sum",
                   "Bytes exchanged between the service and its endpoints, both directions."),
        MetricInfo(_SVC, "EndpointsCount", "gauge", "Count", "Maximum",
                   "Endpoints connected to the service."),
        MetricInfo(_SVC, "NewConnections", "counter", "Count", "Sum",
                   "New connections established from endpoints to the service."),
        MetricInfo(_SVC, "RstPacketsSent", "counter", "Count", "Sum",
                   "RST packets the service sent to endpoints."),
    ]
}  # fmt: skip


def info(namespace: str, name: str) -> MetricInfo | None:
    return METRICS.get((namespace, name))

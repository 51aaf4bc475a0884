"""Views: what one resolver sees. A view is an ordered list of tiers of zone sources plus an
optional fallback view.

For a name, the first tier holding any zone that encloses it decides, and inside that tier
the most specific zone wins (ties: the earlier zone in the tier). A name no zone of the view
encloses goes to the fallback view; without one the resolver REFUSEs it. Once a zone is
chosen its answer is final: an NXDOMAIN from a private zone does not fall through to the
public view (as with Route 53 private hosted zones).

AWS's precedence, as built by :func:`vpc_view` and :func:`public_view`:

* VPC view — tier 1: private hosted zones associated with the VPC, then the AWS-managed
  private zones of its endpoints with private DNS (most specific wins, so a managed zone for
  ``payments.internal.example.com`` beats a private zone for ``example.com``; a private zone
  for the very same name shadows the managed one); tier 2: AWS-provided names (vpce names,
  NLB names, EC2 private hostnames); fallback: the public view.
* public view — tier 1: AWS-provided public names; tier 2: public hosted zones (most specific
  wins).

Views are immutable. Rebuild one when anything in it changes (zones are shared, so building
a view is cheap); each view keeps a bounded cache of rendered answers that dies with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .records import text_key
from .zones import ZoneSource


class View:
    def __init__(
        self,
        tiers: Sequence[Iterable[ZoneSource]] = (),
        *,
        fallback: View | None = None,
        label: str = "",
        authoritative: bool = False,
        silent: bool = False,
        cache_size: int = 4096,
    ):
        """``silent``: the resolver does not answer at all (a VPC with DNS support off);
        ``authoritative``: answers carry the AA flag (off: answers look like a recursive
        resolver's, as AmazonProvidedDNS's do)."""
        self.tiers: tuple[tuple[ZoneSource, ...], ...] = tuple(tuple(t) for t in tiers)
        self.fallback = fallback
        self.label = label
        self.authoritative = authoritative
        self.silent = silent
        self.cache_size = cache_size
        self.cache: dict[tuple, bytes] = {}
        origins: dict[bytes, list[tuple[int, int, ZoneSource]]] = {}
        order = 0
        for tier_index, tier in enumerate(self.tiers):
            for zone in tier:
                origins.setdefault(zone.key, []).append((tier_index, order, zone))
                order += 1
        for entries in origins.values():
            entries.sort(key=lambda e: (e[0], e[1]))
        self._origins = origins

    def find_zone(self, key: bytes) -> ZoneSource | None:
        """The zone that answers for the name with wire key ``key`` (lower case), or None."""
        best = None
        origins = self._origins
        if origins:
            i = 0
            while True:
                entries = origins.get(key[i:] if i else key)
                if entries:
                    e = entries[0]
                    if best is None or e[0] < best[0]:
                        best = e
                        if e[0] == 0:
                            break
                n = key[i]
                if n == 0:
                    break
                i += n + 1
        if best is not None:
            return best[2]
        if self.fallback is not None:
            return self.fallback.find_zone(key)
        return None

    def zone_for(self, name: str) -> ZoneSource | None:
        return self.find_zone(text_key(name))

    def explain(self, name: str) -> str:
        """Which zone answers ``name`` here, in words (for the doctor and for tests)."""
        zone = self.zone_for(name)
        if zone is None:
            return "refused: no zone of this view encloses the name"
        return zone.label

    def zones(self) -> list[ZoneSource]:
        return [z for tier in self.tiers for z in tier]

    def with_fallback(self, fallback: View | None) -> View:
        """The same view over a new fallback (the public view was rebuilt)."""
        return View(
            self.tiers,
            fallback=fallback,
            label=self.label,
            authoritative=self.authoritative,
            silent=self.silent,
            cache_size=self.cache_size,
        )

    def __repr__(self) -> str:
        return f"View({self.label or '?'}, {[len(t) for t in self.tiers]} zones)"


def vpc_view(
    *,
    private_zones: Iterable[ZoneSource] = (),
    managed_zones: Iterable[ZoneSource] = (),
    provided: Iterable[ZoneSource] = (),
    public: View | None = None,
    label: str = "",
    dns_support: bool = True,
) -> View:
    """A VPC's resolver view in AWS's precedence (see the module docstring).

    ``dns_support=False`` gives a silent view: the VPC's resolver answers nothing, as with
    enableDnsSupport off.
    """
    return View(
        [[*private_zones, *managed_zones], list(provided)],
        fallback=public,
        label=label,
        silent=not dns_support,
    )


def public_view(
    *,
    provided: Iterable[ZoneSource] = (),
    hosted_zones: Iterable[ZoneSource] = (),
    label: str = "public",
) -> View:
    """The internet's view: AWS-provided public names, then public hosted zones."""
    return View([list(provided), list(hosted_zones)], label=label)

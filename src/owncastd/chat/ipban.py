"""IP bans for IPv4 and IPv6: single addresses and networks (CIDR), normalised for matching.

An IPv4-mapped IPv6 peer (`::ffff:192.0.2.1`, as a dual-stack socket reports IPv4 clients) is
matched as the IPv4 address; IPv6 zone ids (`fe80::1%eth0`) are ignored. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class InvalidBan(ValueError):
    """The value is neither an IP address nor a network."""


def parse_address(text: str) -> IPAddress | None:
    """A peer address as the ban list compares it, or None if it is not an IP address."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def normalize_ban(value: str) -> str:
    """The canonical text of a ban value: `192.0.2.1`, `2001:db8::1`, `10.0.0.0/8`,
    `2001:db8::/64`. A one-address network becomes the address. InvalidBan if it is neither."""
    text = value.strip()
    if "/" not in text:
        addr = parse_address(text)
        if addr is None:
            raise InvalidBan(f"{value!r} is not an IP address or network")
        return addr.compressed
    try:
        net = ipaddress.ip_network(text.split("%", 1)[0], strict=False)
    except ValueError:
        raise InvalidBan(f"{value!r} is not an IP address or network") from None
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96:
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}", strict=False)
    if net.num_addresses == 1:
        return net.network_address.compressed
    return net.compressed


class BanList:
    """The banned addresses and networks; `banned(peer)` is what every chat route asks."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._addresses: set[IPAddress] = set()
        self._networks: list[IPNetwork] = []
        for value in values:
            try:
                canonical = normalize_ban(value)
            except InvalidBan:
                continue  # a hand-edited row that is not an address never matches
            if "/" in canonical:
                self._networks.append(ipaddress.ip_network(canonical))
            else:
                self._addresses.add(ipaddress.ip_address(canonical))

    def __len__(self) -> int:
        return len(self._addresses) + len(self._networks)

    def banned(self, peer: str) -> bool:
        addr = parse_address(peer)
        if addr is None:
            return False
        if addr in self._addresses:
            return True
        return any(addr.version == net.version and addr in net for net in self._networks)

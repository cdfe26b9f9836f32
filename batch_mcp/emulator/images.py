"""The Marketplace images and node agent SKUs the emulator accepts, and the check a pool's
virtual machine configuration goes through.

`SUPPORTED` is a snapshot of what the service lists today (`Account_ListSupportedImages`): current
Linux and Windows images with their node agent SKU, verification type, capabilities and Batch
end-of-life date where one is announced. `RETIRED` holds node agent SKUs and image offers the
service once accepted and has since retired: they are no longer listed, but a pool naming them is
still accepted, so scripts, samples and recordings from their time run unchanged (the emulator
keeps no calendar). Anything else is refused as the service refuses it: 400 InvalidPropertyValue
naming `nodeAgentSKUId` or `imageReference`. A custom image (`virtualMachineImageId`) is accepted
with any known node agent SKU when its id has the shape of a managed image or a Shared Image
Gallery image (or image version); any other id is refused naming `virtualMachineImageId`, as the
service refuses it. Matching ignores case, as the service does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from batch_mcp.emulator import errors

GEN2 = "Generation2VMImage"
DOCKER = "DockerCompatible"
HPC = ("DockerCompatible", "NvidiaTeslaDriverInstalled", "SupportsRDMAOnly", "Generation2VMImage")


@dataclass(frozen=True)
class Image:
    agent: str  # node agent SKU id
    os: str  # linux | windows
    publisher: str
    offer: str
    sku: str
    verified: bool = True
    capabilities: tuple[str, ...] = ()
    end_of_life: str | None = None  # the Batch support end-of-life date, when announced

    def information(self) -> dict[str, Any]:
        """As ImageInformation."""
        out: dict[str, Any] = {
            "nodeAgentSKUId": self.agent,
            "imageReference": {"publisher": self.publisher, "offer": self.offer, "sku": self.sku, "version": "latest"},
            "osType": self.os,
        }
        if self.capabilities:
            out["capabilities"] = list(self.capabilities)
        if self.end_of_life:
            out["batchSupportEndOfLife"] = self.end_of_life
        out["verificationType"] = "verified" if self.verified else "unverified"
        return out


def _family(
    agent: str, os: str, publisher: str, offer: str, skus: dict[str, tuple[str, ...]], **kw: Any
) -> list[Image]:
    return [Image(agent, os, publisher, offer, sku, capabilities=caps, **kw) for sku, caps in skus.items()]


UBUNTU_2204_EOL = "2027-06-30T00:00:00Z"
WINDOWS_2016_EOL = "2027-01-12T00:00:00Z"
W = "batch.node.windows amd64"

SUPPORTED: tuple[Image, ...] = (
    *_family(
        "batch.node.ubuntu 24.04", "linux", "canonical", "ubuntu-24_04-lts", {"server": (GEN2,), "server-gen1": ()}
    ),
    Image("batch.node.ubuntu 24.04", "linux", "microsoft-dsvm", "ubuntu-hpc", "2404", capabilities=HPC),
    *_family(
        "batch.node.ubuntu 22.04",
        "linux",
        "canonical",
        "0001-com-ubuntu-server-jammy",
        {"22_04-lts": (), "22_04-lts-gen2": (GEN2,)},
        end_of_life=UBUNTU_2204_EOL,
    ),
    Image(
        "batch.node.ubuntu 22.04",
        "linux",
        "microsoft-dsvm",
        "ubuntu-hpc",
        "2204",
        capabilities=HPC,
        end_of_life=UBUNTU_2204_EOL,
    ),
    Image(
        "batch.node.ubuntu 22.04",
        "linux",
        "microsoft-dsvm",
        "ubuntu-2204",
        "2204-gen2",
        verified=False,
        capabilities=(DOCKER, "NvidiaTeslaDriverInstalled", GEN2),
        end_of_life=UBUNTU_2204_EOL,
    ),
    *_family("batch.node.el 8", "linux", "almalinux", "almalinux-x86_64", {"8-gen1": (), "8-gen2": (GEN2,)}),
    Image(
        "batch.node.el 8",
        "linux",
        "almalinux",
        "almalinux-hpc",
        "8_10-hpc-gen2",
        capabilities=(GEN2, "SupportsRDMAOnly"),
    ),
    *_family("batch.node.el 8", "linux", "resf", "rockylinux-x86_64", {"8-base": ()}, verified=False),
    *_family("batch.node.el 8", "linux", "redhat", "rhel", {"8_10": (), "810-gen2": (GEN2,)}, verified=False),
    *_family("batch.node.el 9", "linux", "almalinux", "almalinux-x86_64", {"9-gen1": (), "9-gen2": (GEN2,)}),
    Image(
        "batch.node.el 9", "linux", "almalinux", "almalinux-hpc", "9-hpc-gen2", capabilities=(GEN2, "SupportsRDMAOnly")
    ),
    *_family("batch.node.el 9", "linux", "resf", "rockylinux-x86_64", {"9-base": ()}, verified=False),
    *_family("batch.node.el 9", "linux", "redhat", "rhel", {"9_6": (), "96-gen2": (GEN2,)}, verified=False),
    *_family("batch.node.debian 12", "linux", "debian", "debian-12", {"12": (), "12-gen2": (GEN2,)}),
    Image(
        "batch.node.azurelinux 3.0",
        "linux",
        "microsoftcblmariner",
        "azure-linux-3",
        "azure-linux-3-gen2",
        capabilities=(GEN2,),
    ),
    *_family(
        W,
        "windows",
        "microsoftwindowsserver",
        "windowsserver",
        {
            "2016-datacenter": (),
            "2016-datacenter-gensecond": (GEN2,),
            "2016-datacenter-gs": (),
            "2016-datacenter-smalldisk": (),
            "2016-datacenter-smalldisk-g2": (GEN2,),
            "2016-datacenter-with-containers": (DOCKER,),
            "2016-datacenter-with-containers-gs": (DOCKER,),
        },
        end_of_life=WINDOWS_2016_EOL,
    ),
    *_family(
        W,
        "windows",
        "microsoftwindowsserver",
        "windowsserver",
        {
            "2019-datacenter": (),
            "2019-datacenter-core": (),
            "2019-datacenter-gensecond": (GEN2,),
            "2019-datacenter-gs": (),
            "2019-datacenter-smalldisk": (),
            "2019-datacenter-smalldisk-g2": (GEN2,),
            "2019-datacenter-with-containers": (DOCKER,),
            "2019-datacenter-with-containers-gs": (DOCKER,),
            "2019-datacenter-core-with-containers": (DOCKER,),
            "2022-datacenter": (),
            "2022-datacenter-g2": (GEN2,),
            "2022-datacenter-azure-edition": (GEN2,),
            "2022-datacenter-core": (),
            "2022-datacenter-azure-edition-core": (GEN2,),
            "2022-datacenter-core-g2": (GEN2,),
            "2022-datacenter-core-smalldisk-g2": (GEN2,),
            "2022-datacenter-smalldisk": (),
            "2022-datacenter-smalldisk-g2": (GEN2,),
            "2025-datacenter": (),
            "2025-datacenter-g2": (GEN2,),
            "2025-datacenter-azure-edition": (GEN2,),
            "2025-datacenter-core": (),
            "2025-datacenter-core-g2": (GEN2,),
            "2025-datacenter-smalldisk-g2": (GEN2,),
        },
    ),
    *_family(W, "windows", "microsoft-dsvm", "dsvm-win-2022", {"winserver-2022": (GEN2,)}, verified=False),
    *_family(
        W,
        "windows",
        "microsoftwindowsdesktop",
        "windows-11",
        {"win11-24h2-ent": (GEN2,), "win11-24h2-pro": (GEN2,)},
        verified=False,
    ),
)

# Retired node agent SKUs and the image offers that went with them: accepted, never listed.
# (agent, os, Batch end of life, ((publisher, offer[, sku prefix]), ...)); without a prefix any
# sku of the offer matches.
RETIRED: tuple[tuple[str, str, str, tuple[tuple[str, ...], ...]], ...] = (
    (
        "batch.node.ubuntu 20.04",
        "linux",
        "2025-04-23T00:00:00Z",
        (
            ("canonical", "0001-com-ubuntu-server-focal"),
            ("microsoft-dsvm", "ubuntu-2004"),
            ("microsoft-dsvm", "ubuntu-hpc"),
            ("microsoft-azure-batch", "ubuntu-server-container"),
            ("microsoft-azure-batch", "ubuntu-server-container-rdma"),
        ),
    ),
    (
        "batch.node.ubuntu 18.04",
        "linux",
        "2023-05-30T00:00:00Z",
        (
            ("canonical", "ubuntuserver"),
            ("canonical", "0001-com-ubuntu-server-bionic"),
            ("microsoft-azure-batch", "ubuntu-server-container"),
            ("microsoft-dsvm", "ubuntu-1804"),
        ),
    ),
    (
        "batch.node.ubuntu 16.04",
        "linux",
        "2021-04-30T00:00:00Z",
        (
            ("canonical", "ubuntuserver"),
            ("microsoft-azure-batch", "ubuntu-server-container"),
            ("microsoft-azure-batch", "ubuntu-server-container-rdma"),
        ),
    ),
    ("batch.node.ubuntu 14.04", "linux", "2019-08-01T00:00:00Z", (("canonical", "ubuntuserver"),)),
    (
        "batch.node.centos 7",
        "linux",
        "2024-06-30T00:00:00Z",
        (
            ("openlogic", "centos"),
            ("openlogic", "centos-hpc"),
            ("microsoft-azure-batch", "centos-container"),
            ("microsoft-azure-batch", "centos-container-rdma"),
        ),
    ),
    ("batch.node.centos 8", "linux", "2021-12-31T00:00:00Z", (("openlogic", "centos"), ("openlogic", "centos-hpc"))),
    ("batch.node.debian 8", "linux", "2020-06-30T00:00:00Z", (("credativ", "debian"),)),
    ("batch.node.debian 9", "linux", "2022-06-30T00:00:00Z", (("credativ", "debian"), ("debian", "debian-9"))),
    ("batch.node.debian 10", "linux", "2024-06-30T00:00:00Z", (("debian", "debian-10"),)),
    ("batch.node.debian 11", "linux", "2026-08-31T00:00:00Z", (("debian", "debian-11"),)),
    ("batch.node.mariner 2.0", "linux", "2025-07-30T00:00:00Z", (("microsoftcblmariner", "cbl-mariner"),)),
    ("batch.node.opensuse 42.1", "linux", "2017-11-30T00:00:00Z", (("suse", "opensuse"), ("suse", "opensuse-leap"))),
    ("batch.node.sles 12", "linux", "2019-06-30T00:00:00Z", (("suse", "sles"), ("suse", "sles-hpc"))),
    # retired Windows images keep the current agent: Server 2008 R2, 2012 and 2012 R2, Windows 10
    (
        W,
        "windows",
        "2024-12-05T00:00:00Z",
        (
            ("microsoftwindowsserver", "windowsserver", "2008-r2-sp1"),
            ("microsoftwindowsserver", "windowsserver", "2012-datacenter"),
            ("microsoftwindowsserver", "windowsserver", "2012-r2-datacenter"),
            ("microsoftwindowsdesktop", "windows-10"),
            ("microsoft-dsvm", "dsvm-windows"),
        ),
    ),
)


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)


_CURRENT = {_key(i.agent, i.publisher, i.offer, i.sku): i for i in SUPPORTED}
_CURRENT_BY_IMAGE = {_key(i.publisher, i.offer, i.sku): i for i in SUPPORTED}
_RETIRED_OFFERS: dict[tuple[str, ...], list[str]] = {}
for _agent, _, _, _offers in RETIRED:
    for _offer in _offers:
        _RETIRED_OFFERS.setdefault(_key(_agent, *_offer[:2]), []).append(_offer[2] if len(_offer) > 2 else "")
AGENTS = {i.agent.lower(): i.os for i in SUPPORTED} | {agent.lower(): os for agent, os, _, _ in RETIRED}


def _retired(agent: str, publisher: str, offer: str, sku: str) -> bool:
    prefixes = _RETIRED_OFFERS.get(_key(agent, publisher, offer), [])
    return any(sku.lower().startswith(prefix) for prefix in prefixes)


def supported_images() -> list[dict[str, Any]]:
    """What Account_ListSupportedImages answers."""
    return [image.information() for image in SUPPORTED]


def node_agent_skus() -> list[dict[str, Any]]:
    """What the 2018 Account_ListNodeAgentSkus answers: each SKU with its verified images."""
    skus: dict[str, dict[str, Any]] = {}
    for image in SUPPORTED:
        entry = skus.setdefault(image.agent, {"id": image.agent, "verifiedImageReferences": [], "osType": image.os})
        if image.verified:
            entry["verifiedImageReferences"].append(image.information()["imageReference"])
    return list(skus.values())


def os_type(agent: str) -> str | None:
    return AGENTS.get(agent.lower())


# The Azure resource ids a custom image may have: a managed image, a gallery image (its latest
# version) or one gallery image version.
CUSTOM_IMAGE_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
    r"(?:images/[^/]+|galleries/[^/]+/images/[^/]+(?:/versions/[^/]+)?)",
    re.IGNORECASE,
)


def check_virtual_machine_configuration(config: dict[str, Any]) -> None:
    """Refuse a configuration the service would refuse: an unknown node agent SKU, or a
    Marketplace image that is not supported with it."""
    agent = config.get("nodeAgentSKUId") or ""
    if agent.lower() not in AGENTS:
        raise errors.invalid_property(
            "nodeAgentSKUId",
            agent,
            "Not a node agent SKU of the Batch service; list the supported images for the SKU that goes with an image.",
        )
    reference = config.get("imageReference") or {}
    custom = reference.get("virtualMachineImageId")
    if custom:
        if not isinstance(custom, str) or not CUSTOM_IMAGE_ID.fullmatch(custom):
            raise errors.invalid_property(
                "virtualMachineImageId",
                str(custom),
                "Not the id of a managed image or a Shared Image Gallery image: expected "
                "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/images/{image} or "
                ".../Microsoft.Compute/galleries/{gallery}/images/{image}[/versions/{version}].",
            )
        return  # a custom image: the node agent SKU is the user's claim about it
    for name in ("publisher", "offer", "sku"):
        if not reference.get(name):
            raise errors.missing_property(f"imageReference.{name}")
    publisher, offer, sku = reference["publisher"], reference["offer"], reference["sku"]
    if _key(agent, publisher, offer, sku) in _CURRENT or _retired(agent, publisher, offer, sku):
        return
    image = f"{publisher}:{offer}:{sku}"
    other = _CURRENT_BY_IMAGE.get(_key(publisher, offer, sku))
    reason = (
        f"The image {image} goes with node agent SKU {other.agent!r}, not {agent!r}."
        if other is not None
        else f"The image {image} is not supported by the Batch service; list the supported images to choose one."
    )
    raise errors.invalid_property("imageReference", image, reason)

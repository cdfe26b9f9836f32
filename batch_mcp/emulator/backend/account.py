"""Account-level things: certificates, applications, supported images and node agent SKUs, and
the 2018 lifetime statistics. Images live in images.py and applications in applications.py;
every image runs tasks the same way here, as local processes.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from batch_mcp.emulator import errors, images
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.backend.pools import resource_stats
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import format_duration, iso


class AccountOps(BackendBase):
    # -- images -------------------------------------------------------------------------------

    def list_supported_images(self) -> list[dict[str, Any]]:
        return images.supported_images()

    def list_node_agent_skus(self) -> list[dict[str, Any]]:
        return images.node_agent_skus()

    # -- applications -------------------------------------------------------------------------

    def list_applications(self) -> list[dict[str, Any]]:
        return self.applications.list()

    def get_application(self, application_id: str) -> dict[str, Any]:
        return self.applications.get(application_id)

    # -- certificates -------------------------------------------------------------------------

    @staticmethod
    def certificate_key(algorithm: str, thumbprint: str) -> str:
        return f"{algorithm}-{thumbprint}".lower()

    def add_certificate(self, params: dict[str, Any]) -> Entity:
        algorithm, thumbprint = params["thumbprintAlgorithm"], params["thumbprint"]
        if algorithm.lower() != "sha1":
            raise errors.invalid_property("thumbprintAlgorithm", algorithm, "The only supported algorithm is sha1.")
        try:
            raw = base64.b64decode(params["data"], validate=True)
        except ValueError:  # the emulator cannot open certificates anyway; keep whatever was sent
            raw = params["data"].encode("utf-8")
        now = self.now()
        body: dict[str, Any] = {
            "thumbprint": thumbprint,
            "thumbprintAlgorithm": algorithm,
            "url": self.url(f"/certificates(thumbprintAlgorithm={algorithm},thumbprint={thumbprint})"),
            "state": "active",
            "stateTransitionTime": iso(now),
        }
        if params.get("certificateFormat") == "cer":
            body["publicData"] = params["data"]
        entity = self.new_entity("certificate", "", self.certificate_key(algorithm, thumbprint), body, now)
        # neither the certificate data nor its password is kept: only a digest to tell it apart
        entity.internal["digest"] = hashlib.sha256(raw).hexdigest()
        self.insert(entity)
        return entity

    def get_certificate(self, algorithm: str, thumbprint: str) -> Entity:
        return self.get("certificate", "", self.certificate_key(algorithm, thumbprint))

    def list_certificates(self) -> list[Entity]:
        return self.store.list("certificate")

    def delete_certificate(self, algorithm: str, thumbprint: str) -> Entity:
        cert = self.get_certificate(algorithm, thumbprint)
        if cert.body["state"] == "deleting":
            raise errors.conflict("CertificateBeingDeleted", "The certificate is being deleted.")
        now = self.now()
        cert.body.pop("deleteCertificateError", None)
        self.set_state(cert, "deleting", now)
        self.set_timer(cert, "deleted", now + self.delay())
        self.save(cert)
        return cert

    def finish_delete_certificate(self, cert: Entity, now: float) -> None:
        users = [
            p.id
            for p in self.store.list("pool")
            if any(
                self.certificate_key(r["thumbprintAlgorithm"], r["thumbprint"]) == cert.id
                for r in p.body.get("certificateReferences") or []
            )
        ]
        if users:
            self.set_state(cert, "deletefailed", now)
            cert.body["deleteCertificateError"] = {
                "code": "CertificateInUse",
                "message": "The certificate is referenced by one or more pools.",
                "values": [{"name": "Pools", "value": ",".join(users)}],
            }
            return
        self.store.delete("certificate", "", cert.id)

    def cancel_deletion_certificate(self, algorithm: str, thumbprint: str) -> Entity:
        cert = self.get_certificate(algorithm, thumbprint)
        if cert.body["state"] != "deletefailed":
            raise errors.conflict(
                "CertificateStateActive", "Only a certificate whose deletion failed can have its deletion cancelled."
            )
        now = self.now()
        cert.body.pop("deleteCertificateError", None)
        self.set_state(cert, "active", now)
        self.save(cert)
        return cert

    # -- 2018 lifetime statistics -------------------------------------------------------------

    def pool_lifetime_stats(self) -> dict[str, Any]:
        now = self.now()
        pools = self.store.list("pool")
        start = min((p.internal.get("created", now) for p in pools), default=now)
        core = sum(
            (p.body.get("currentDedicatedNodes", 0) + p.body.get("currentLowPriorityNodes", 0))
            * self.pool_cores(p)
            * (now - p.internal.get("created", now))
            for p in pools
        )
        return {
            "url": self.url("/lifetimepoolstats"),
            "startTime": iso(start),
            "lastUpdateTime": iso(now),
            "usageStats": {
                "startTime": iso(start),
                "lastUpdateTime": iso(now),
                "dedicatedCoreTime": format_duration(core),
            },
            "resourceStats": resource_stats(start, now),
        }

    def job_lifetime_stats(self) -> dict[str, Any]:
        now = self.now()
        jobs = self.store.list("job")
        start = min((j.internal.get("created", now) for j in jobs), default=now)
        total = {k: sum(j.internal.get(k, 0) for j in jobs) for k in ("succeeded", "failed", "retries", "wall", "wait")}
        return {
            "url": self.url("/lifetimejobstats"),
            "startTime": iso(start),
            "lastUpdateTime": iso(now),
            "userCPUTime": format_duration(total["wall"]),
            "kernelCPUTime": format_duration(0.0),
            "wallClockTime": format_duration(total["wall"]),
            "readIOps": 0,
            "writeIOps": 0,
            "readIOGiB": 0.0,
            "writeIOGiB": 0.0,
            "numSucceededTasks": total["succeeded"],
            "numFailedTasks": total["failed"],
            "numTaskRetries": total["retries"],
            "waitTime": format_duration(total["wait"]),
        }

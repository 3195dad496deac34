"""A CDN purger for tests: it records every call (generation.services.cdn.CdnPurger)."""

from dataclasses import dataclass, field


@dataclass
class RecordingCdnPurger:
    calls: list[dict[str, list[str]]] = field(default_factory=list)
    failures_left: int = 0  # answer this many calls with an error first, as a CDN outage would

    def purge(self, *, urls: list[str], tags: list[str]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the CDN did not answer")
        self.calls.append({"urls": list(urls), "tags": list(tags)})

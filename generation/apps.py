from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"

    def ready(self) -> None:
        from generation import checks, signals  # noqa: F401  (registers the checks, receivers)

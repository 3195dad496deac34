"""Settings shared by every environment. Values come from the environment through config.env."""

from typing import Any

from config.env import BASE_DIR, env

SECRET_KEY = env("SECRET_KEY", default="insecure-local-only-secret-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address customers reach Easel at; used in e-mails, API quick starts, image URLs and share
# links. Unset, it is the port the web process serves: `make run` passes PORT to every process
# as EASEL_WEB_PORT (platform/Procfile's web entry listens on it), so a page served on
# PORT=18777 never points at 8000. Production requires SITE_URL (config/settings/production.py).
EASEL_WEB_PORT = env.int("EASEL_WEB_PORT", default=8000)
SITE_URL = env("SITE_URL", default=f"http://127.0.0.1:{EASEL_WEB_PORT}")

VAR_DIR = BASE_DIR / "var"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "common",
    "accounts",
    "billing",
    "generation",
    "moderation",
    "frontend",
]

MIDDLEWARE = [
    "common.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.WhiteNoiseMiddleware",  # static files under uvicorn; async-capable
    "common.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After sessions and messages (the 400 page is a normal page), before any view.
    "common.middleware.MalformedInputMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.StaffTwoFactorMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.site_notices",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # money services choose their own transactions
# Connections are kept (per thread) for this many seconds, checked before reuse. A new
# PostgreSQL connection costs 15-30 ms on a shared box (a backend process is forked), and one
# OpenAI-style request makes four database calls from the web's shared thread pool, the worker
# more (bench/api_overhead.py). A process keeps at most one per thread that touched the
# database (web: the shared pool's threads; worker: the task's and the delivery pool's).
# 0 closes each after its call, as Django does by default.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the file: wait for a lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares a statement on its fifth use on a connection. Django's own queries bind
    # parameters on the client and are never prepared; the ledger's hot path binds on the
    # server (billing/services/credits.py), so its plans are made once per connection. Empty
    # turns it off (needed behind a transaction-pooling PgBouncer older than 1.21).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        env.int("DATABASE_PREPARE_THRESHOLD", default=5)
        if env("DATABASE_PREPARE_THRESHOLD", default="5")
        else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ---------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"pool_class": "common.cache.SharedConnectionPool"},
        }
    }
else:
    # A file cache is shared by the web and worker processes on one machine, unlike locmem.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_BROKER_FOLDER = VAR_DIR / "celery"
# The broker is a setting: Redis (REDIS_URL) by default, or RabbitMQ (`amqp://user:pass@host/vhost`)
# through BROKER_URL. Both carry the GPU lanes as priorities (common/queues.py, lane_priority).
BROKER_URL = env("BROKER_URL", default=REDIS_URL)
if BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    CELERY_BROKER_URL = BROKER_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
    # Every queue Celery declares on RabbitMQ is a priority queue (x-max-priority): higher first.
    CELERY_TASK_QUEUE_MAX_PRIORITY = 9
    CELERY_TASK_DEFAULT_PRIORITY = 5
elif BROKER_URL:
    CELERY_BROKER_URL = BROKER_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Counted from when a worker took the message: above the GPU task's hard time limit plus
        # the lease (generation/checks.py), so a running job is never handed to a second worker.
        # Work lost with a dead worker or a wiped broker does not wait for it: the outbox sweeps
        # re-send from PostgreSQL within minutes (docs/generation.md, "Failures"). The default is
        # the default hard limit (360 s) plus the lease (120 s) plus two minutes of margin.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
        # How often a worker looks for unacknowledged messages past that timeout (those of a
        # worker that died) and puts them back; Kombu's default is every 100 s.
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": 1,
        "queue_order_strategy": "priority",
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        # Broadcast (control) messages; without it Kombu writes them into the working directory.
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Celery's Django fixup closes the task thread's database connection before and after every
# task unless this is set (then only every 2 x this many task boundaries): each job would open a
# new PostgreSQL connection inside its latency. Django's own rules (CONN_MAX_AGE, health checks,
# a connection left in error) decide instead, applied at each task's start and end
# (common/celery_worker.py).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}  # each app adds its periodic tasks in its own section below

# --- Fleet: probes, metrics, drain (docs/deploy.md) -----------------------------------------
# A worker's main process serves /healthz, /readyz and /metrics on this port (0: none).
EASEL_WORKER_PROBE_PORT = env.int("EASEL_WORKER_PROBE_PORT", default=0)
EASEL_WORKER_PROBE_HOST = env("EASEL_WORKER_PROBE_HOST", default="0.0.0.0")
# A worker whose event loop has not turned for this long answers /healthz with 503.
EASEL_WORKER_LIVENESS_SECONDS = env.int("EASEL_WORKER_LIVENESS_SECONDS", default=60)
# The models a GPU worker's children load as they start; /readyz waits for them.
EASEL_WORKER_MODELS = env.list(
    "EASEL_WORKER_MODELS", default=[env("EASEL_MODEL", default="easel/tiny")]
)
# When set, the web's /metrics answers only `Authorization: Bearer <token>`.
EASEL_METRICS_TOKEN = env("EASEL_METRICS_TOKEN", default="")
# Celery beat holds a lock in Redis while it runs (common/beat_lock.py): a second beat waits.
EASEL_BEAT_LOCK_TTL = env.int("EASEL_BEAT_LOCK_TTL", default=60)
# Where `manage.py models fetch` puts model weights, and where workers look for them first.
EASEL_MODEL_CACHE = env("EASEL_MODEL_CACHE", default=str(VAR_DIR / "model-cache"))

# --- Auth and accounts ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
# After signing in (and after confirming the e-mail address): straight to making an image.
LOGIN_REDIRECT_URL = "/create/"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Easel] "
# Lock-out after repeated failures: allauth counts failed logins per e-mail and per IP.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
}
# Keys the HMAC of API key secrets; defaults to one derived from SECRET_KEY. Set it explicitly
# in production so rotating SECRET_KEY does not invalidate every API key.
API_KEY_HASH_KEY = env("API_KEY_HASH_KEY", default=f"api-keys:{SECRET_KEY}")
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Easel"
# Web pages only staff with two-factor authentication reach (accounts.middleware).
STAFF_TWO_FACTOR_PATHS = ["/admin/", "/console/"]

# --- E-mail --------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Easel <no-reply@easel.local>")

# --- Storage -------------------------------------------------------------------------------
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_URL = "/static/"
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default=None)
AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default=None)
AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default=None)
AWS_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE", default=None)
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = 3600
_media_storage: dict[str, Any]
if AWS_STORAGE_BUCKET_NAME:
    _media_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Closed to API keys unless a view names the scope it needs (accounts/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.WebSessionOnly",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Easel API",
    "DESCRIPTION": (
        "Image generation: an OpenAI-compatible API at /v1/ and the native API at /api/v1/."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # One schema name per choice set that several fields share (else W001 warnings).
    "ENUM_NAME_OVERRIDES": {
        "ModerationCategoryEnum": "moderation.models.Category",
        "CaseSourceEnum": "moderation.models.Case.Source",
        "GenerationSourceEnum": "generation.models.Generation.Source",
        "CaseStateEnum": "moderation.models.Case.State",
        "LikenessEnrolmentStateEnum": "moderation.models.LikenessEnrolment.State",
    },
}

# Empty: no Content-Security-Policy header (local); production sets a strict one.
CONTENT_SECURITY_POLICY = env("CONTENT_SECURITY_POLICY", default="")

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: one JSON object a line, each with the request id ------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "common.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "common.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Models (generation) -------------------------------------------------------------------
# The model registry (docs/generation.md). `source` is a Hugging Face hub id or a local folder
# (`builtin:tiny` is the tiny random pipeline built from configs, no download); `native_size`
# is the side it was trained at (smaller requests render there and are downscaled);
# `operations` says which of generate / edit / variation it serves; optional: `max_pixels` (per
# image, default 1792x1024's), `quality` ({"low": steps, "medium": ..., "high": ...}),
# `background_model` (a segmentation model for transparent backgrounds: hub id, local folder or
# builtin:tiny; docs/api.md).
EASEL_MODELS = {
    "easel/tiny": {
        "source": "builtin:tiny",
        "native_size": 256,
        "default_steps": 2,
        "guidance_scale": 0.0,
        "scheduler": "EulerAncestralDiscreteScheduler",
        "operations": ["generate", "edit", "variation"],
        # Transparent backgrounds: a tiny random segmentation model (its masks are noise).
        "background_model": "builtin:tiny",
        # Reference images: a tiny random IP-Adapter shaped to the tiny UNet (noise, like it).
        "ip_adapter": {"source": "builtin:tiny"},
    },
    "stabilityai/sd-turbo": {
        "source": env("EASEL_SD_TURBO_SOURCE", default="stabilityai/sd-turbo"),
        "native_size": 512,
        "default_steps": 1,
        "guidance_scale": 0.0,
        "scheduler": "EulerAncestralDiscreteScheduler",
        "operations": ["generate", "edit", "variation"],
    },
    "stabilityai/sdxl-turbo": {
        "source": env("EASEL_SDXL_TURBO_SOURCE", default="stabilityai/sdxl-turbo"),
        "native_size": 512,
        "default_steps": 1,
        "guidance_scale": 0.0,
        "scheduler": "EulerAncestralDiscreteScheduler",
        "operations": ["generate", "edit", "variation"],
    },
}
EASEL_MODEL = env("EASEL_MODEL", default="easel/tiny")
# `/v1`'s `model` values from OpenAI that Easel answers with one of its own: alias -> a model
# id above ("" is EASEL_MODEL). Clients that hard-code OpenAI's names keep working.
EASEL_OPENAI_MODEL_ALIASES = {"dall-e-2": "", "dall-e-3": "", "gpt-image-1": ""}
# Worker: compile the UNet and the VAE decode with torch.compile on a GPU (slower first call,
# faster after).
EASEL_TORCH_COMPILE = env.bool("EASEL_TORCH_COMPILE", default=False)
# Compatible queued jobs (same model, operation, size, steps) run in one pipeline call, up to
# this many images; 1 turns batching off (bench/batching.py measures it).
EASEL_BATCH_MAX_IMAGES = env.int("EASEL_BATCH_MAX_IMAGES", default=8)
# A GPU worker runs its next batch while a pool of CPU threads delivers the last one (screening,
# watermark, encoding, storage, settlement); off: each batch is delivered (by the same pool)
# before the next starts. "auto" (the default): on where the model runs on a GPU, off on a CPU,
# whose cores the pipeline's torch threads already fill (bench/worker_throughput.py measures
# both: generation.services.deliveries.pipelining). The pool has EASEL_DELIVERY_THREADS
# threads, 0 for one per CPU core.
_pipeline = env("EASEL_WORKER_PIPELINE", default="auto").strip().lower()
EASEL_WORKER_PIPELINE: bool | None = (
    None if _pipeline == "auto" else env.bool("EASEL_WORKER_PIPELINE")
)
EASEL_DELIVERY_THREADS = env.int("EASEL_DELIVERY_THREADS", default=0)
# The GPU task's limits: past the soft limit the job fails and its credits are released.
EASEL_GENERATION_SOFT_TIME_LIMIT = env.int("EASEL_GENERATION_SOFT_TIME_LIMIT", default=300)
EASEL_GENERATION_HARD_TIME_LIMIT = env.int("EASEL_GENERATION_HARD_TIME_LIMIT", default=360)
# A claim is abandoned (re-claimable by another delivery) after this long without a heartbeat.
EASEL_GENERATION_LEASE_SECONDS = env.int("EASEL_GENERATION_LEASE_SECONDS", default=120)
EASEL_GENERATION_MAX_ATTEMPTS = env.int("EASEL_GENERATION_MAX_ATTEMPTS", default=3)
# A low-lane job queued longer than this is re-sent at normal priority, so Free still progresses.
EASEL_LANE_PROMOTE_AFTER_SECONDS = env.int("EASEL_LANE_PROMOTE_AFTER_SECONDS", default=120)
# Signed image URLs (local storage's signed view, S3 presigned) expire after this many seconds.
EASEL_IMAGE_URL_EXPIRES = env.int("EASEL_IMAGE_URL_EXPIRES", default=3600)
# Presigned S3 URLs with Signature V4 (what every region and S3-compatible server accepts).
AWS_S3_SIGNATURE_VERSION = env("AWS_S3_SIGNATURE_VERSION", default="s3v4")
# Keys the invisible watermark's pattern; changing it makes older images unreadable.
EASEL_WATERMARK_KEY = env("EASEL_WATERMARK_KEY", default=f"watermark:{SECRET_KEY}")
# Content credentials (docs/generation.md, "Provenance"): the C2PA signing certificate chain
# (PEM, signing certificate first) and its private key, or EASEL_C2PA_SIGN_CALLBACK, a callable
# set in a settings module (bytes to sign -> signature, e.g. a KMS call) used instead of the key.
# The defaults are the development chain `make run` and the tests make under var/c2pa/; a
# production deployment needs a certificate from a CA on the C2PA trust list (check --deploy
# refuses the development one).
EASEL_C2PA_CERTIFICATE = env("EASEL_C2PA_CERTIFICATE", default=str(VAR_DIR / "c2pa" / "chain.pem"))
EASEL_C2PA_PRIVATE_KEY = env("EASEL_C2PA_PRIVATE_KEY", default=str(VAR_DIR / "c2pa" / "key.pem"))
EASEL_C2PA_ALGORITHM = env("EASEL_C2PA_ALGORITHM", default="es256")
EASEL_C2PA_SIGN_CALLBACK = None
# An RFC 3161 time-stamp authority: signatures then stay valid after the certificate expires.
EASEL_C2PA_TIMESTAMP_URL = env("EASEL_C2PA_TIMESTAMP_URL", default="")
# Root certificates (PEM) a manifest's chain may end in, beside c2pa's own trust list.
EASEL_C2PA_TRUST_ANCHORS = env(
    "EASEL_C2PA_TRUST_ANCHORS", default=str(VAR_DIR / "c2pa" / "root.pem")
)
# Provenance checks (the /verify page and POST /api/v1/provenance/check) per minute, per
# account when signed in, else per client address.
EASEL_PROVENANCE_CHECKS_PER_MINUTE = env.int("EASEL_PROVENANCE_CHECKS_PER_MINUTE", default=20)
# Copies already handed out (docs/generation.md, "Take-down"): how long browsers and a CDN may
# cache an image response, which bounds how long a take-down takes to reach them; and the CDN
# purge called at a take-down: EASEL_CDN_PURGER (an object with purge(*, urls, tags), set in a
# settings module), or a JSON POST to EASEL_CDN_PURGE_URL with EASEL_CDN_PURGE_TOKEN.
EASEL_MEDIA_CACHE_SECONDS = env.int("EASEL_MEDIA_CACHE_SECONDS", default=300)
EASEL_CDN_PURGER = None
EASEL_CDN_PURGE_URL = env("EASEL_CDN_PURGE_URL", default="")
EASEL_CDN_PURGE_TOKEN = env("EASEL_CDN_PURGE_TOKEN", default="")
# Withheld and taken-down images are kept (staff-only, `quarantine/` prefix) this many days so
# an appeal can give them back; then deleted daily, except while a case about them is open.
EASEL_QUARANTINE_RETENTION_DAYS = env.int("EASEL_QUARANTINE_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["generation-lanes-promote"] = {
    "task": "generation.lanes_promote",
    "schedule": 30.0,
}
# A job still queued this long after its message was sent gets a new one (a lost message).
EASEL_GENERATION_RESEND_AFTER = env.int("EASEL_GENERATION_RESEND_AFTER", default=120)
CELERY_BEAT_SCHEDULE["generation-jobs-resend"] = {
    "task": "generation.jobs_resend",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["generation-stale-sweep"] = {
    "task": "generation.stale_sweep",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["generation-quarantine-purge"] = {
    "task": "generation.quarantine_purge",
    "schedule": 6 * 3600.0,
}
# Generation APIs (docs/api.md). How long an OpenAI-style request is held waiting for its
# images (below the openai client's 600 s default), and the no-Redis fallback's poll interval.
EASEL_API_WAIT_TIMEOUT = env.float("EASEL_API_WAIT_TIMEOUT", default=540.0)
EASEL_API_POLL_INTERVAL = env.float("EASEL_API_POLL_INTERVAL", default=0.5)
# Async API views run their database work in a shared thread pool, so a held request holds no
# thread; False runs it on the request's own thread, as Django does by default (unit tests).
EASEL_API_SHARED_THREAD_POOL = env.bool("EASEL_API_SHARED_THREAD_POOL", default=True)
# Documents the error answers of generation's operations in the OpenAPI schema.
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "generation.api.schema.error_responses_document",
]
# Webhooks: production never calls loopback/private/link-local/metadata addresses (local and
# test settings allow loopback); a delivery is retried with backoff for WEBHOOK_RETRY_WINDOW.
WEBHOOKS_ALLOW_LOOPBACK = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=False)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_RETRY_WINDOW = env.int("WEBHOOK_RETRY_WINDOW", default=24 * 3600)
CELERY_BEAT_SCHEDULE["generation-idempotency-purge"] = {
    "task": "generation.idempotency_records_purge",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["generation-webhook-deliveries-due"] = {
    "task": "generation.webhook_deliveries_due",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["generation-webhook-events-sweep"] = {
    "task": "generation.webhook_events_sweep",
    "schedule": 30.0,
}

# --- Billing -------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Points the Stripe SDK elsewhere (tests use a local server); empty means Stripe itself.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
# Every Stripe request and the webhook payload shapes Easel reads follow this API version.
STRIPE_API_VERSION = env("STRIPE_API_VERSION", default="2025-03-31.basil")
# Webhook signatures older than this many seconds are refused (replay protection).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# A stored event not processed this many seconds after it was received (or last sent) has its
# processing task sent again by beat's `billing.stripe_events_resend` (docs/billing.md).
BILLING_STRIPE_EVENT_RESEND_AFTER = env.int("BILLING_STRIPE_EVENT_RESEND_AFTER", default=60)
# Credits per image by size. DALL-E 2 charged $0.016/$0.018/$0.020 (256/512/1024): one credit
# buys a 256 or 512 image and 1024 costs more; whole credits make that 2 (docs/billing.md).
BILLING_IMAGE_PRICES = {256: 1, 512: 1, 1024: 2}
# Credit packs sold through Stripe Checkout: id -> credits, price in cents, currency.
BILLING_CREDIT_PACKS = {
    "115": {"credits": 115, "price_cents": 1500, "currency": "usd"},
}
BILLING_DEFAULT_PACK = "115"
# Free credits: the first month's sign-up grant, then each active user's monthly grant.
# Both expire at the end of their calendar month (UTC): free credits do not roll over.
BILLING_SIGNUP_GRANT = env.int("BILLING_SIGNUP_GRANT", default=50)
BILLING_MONTHLY_FREE_GRANT = env.int("BILLING_MONTHLY_FREE_GRANT", default=15)
BILLING_PURCHASE_EXPIRY_MONTHS = env.int("BILLING_PURCHASE_EXPIRY_MONTHS", default=12)
# Reservations not settled after this many seconds are released by the sweep.
BILLING_RESERVATION_TIMEOUT = env.int("BILLING_RESERVATION_TIMEOUT", default=6 * 3600)
# Where Stripe sends the customer back after Checkout or the Portal (paths under SITE_URL).
BILLING_CHECKOUT_SUCCESS_PATH = env(
    "BILLING_CHECKOUT_SUCCESS_PATH", default="/billing/?checkout=success"
)
BILLING_CHECKOUT_CANCEL_PATH = env(
    "BILLING_CHECKOUT_CANCEL_PATH", default="/billing/?checkout=canceled"
)
BILLING_PORTAL_RETURN_PATH = env("BILLING_PORTAL_RETURN_PATH", default="/billing/")
# Stripe Price ids of the paid tiers, used when a Tier row has no stripe_price_id of its own.
BILLING_STRIPE_PRICE_IDS = {
    "plus": env("STRIPE_PRICE_PLUS", default=""),
    "pro": env("STRIPE_PRICE_PRO", default=""),
}
CELERY_BEAT_SCHEDULE.update(
    {
        "billing-expire-lots": {"task": "billing.lots_expire", "schedule": 15 * 60},
        "billing-monthly-grants": {"task": "billing.monthly_grants_issue", "schedule": 3600},
        "billing-sweep-reservations": {"task": "billing.reservations_sweep", "schedule": 10 * 60},
        "billing-resend-stripe-events": {"task": "billing.stripe_events_resend", "schedule": 30},
    }
)

# --- Moderation ----------------------------------------------------------------------------
# People and process (docs/moderation-process.md). Strikes are blocked attempts counted in a
# sliding window: per account (its own attempts), per integrator end user (OpenAI's `user`),
# and across the whole account (so rotating end-user ids does not dodge the count).
MODERATION_STRIKE_WINDOW_SECONDS = env.int("MODERATION_STRIKE_WINDOW_SECONDS", default=24 * 3600)
MODERATION_STRIKES_PER_USER = env.int("MODERATION_STRIKES_PER_USER", default=5)
MODERATION_STRIKES_PER_END_USER = env.int("MODERATION_STRIKES_PER_END_USER", default=5)
MODERATION_STRIKES_PER_ACCOUNT = env.int("MODERATION_STRIKES_PER_ACCOUNT", default=50)
MODERATION_STRIKE_SUSPENSION_SECONDS = env.int(
    "MODERATION_STRIKE_SUSPENSION_SECONDS", default=24 * 3600
)
# Anonymous reports of shared images allowed per IP address per hour.
MODERATION_ANONYMOUS_REPORTS_PER_HOUR = env.int("MODERATION_ANONYMOUS_REPORTS_PER_HOUR", default=20)
# Image screening (docs/moderation-images.md): the share of consented real-face uploads that
# open a review case (0..1).
MODERATION_FACE_UPLOAD_SAMPLE_RATE = env.float("MODERATION_FACE_UPLOAD_SAMPLE_RATE", default=0.1)
# Prompt screening (docs/moderation-policy.md): how often (seconds) a process asks the database
# whether the public-figure registry changed, and the CPU threads of the sentence model
# (0 leaves torch's default).
MODERATION_REGISTRY_RECHECK_SECONDS = env.float("MODERATION_REGISTRY_RECHECK_SECONDS", default=5.0)
MODERATION_SEMANTIC_THREADS = env.int("MODERATION_SEMANTIC_THREADS", default=1)
# Where the int8 ONNX export of the packaged sentence model is kept (built once per machine by
# `manage.py moderation prepare-models`, or by the first process that needs it).
MODERATION_MODEL_DIR = env("MODERATION_MODEL_DIR", default=str(VAR_DIR / "models"))
# Load the sentence model and the registry at process start (web, Celery worker children) on
# a background thread, so no request pays for it; /readyz waits for it.
MODERATION_PRELOAD = env.bool("MODERATION_PRELOAD", default=True)

# --- Frontend ------------------------------------------------------------------------------
# WhiteNoise serves /static/ from the apps' static folders directly (no collectstatic needed
# to see the pages); collectstatic into STATIC_ROOT still works for a CDN or a proxy.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
# Extend (outpainting, generation/services/outpainting.py): the largest canvas side in pixels.
# A 1024 image at 2x is 2048; each frame is an edit at the image's own size.
EASEL_EXTEND_MAX_CANVAS_SIDE = env.int("EASEL_EXTEND_MAX_CANVAS_SIDE", default=2048)
CELERY_BEAT_SCHEDULE["frontend-extensions-advance"] = {
    "task": "frontend.extensions_advance",
    "schedule": 5.0,
}

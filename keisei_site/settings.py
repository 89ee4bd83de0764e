"""Django settings, read from the environment (see docs/configuration.md for every variable).

Production needs ``DATABASE_URL``, ``REDIS_URL`` and ``SECRET_KEY``. The embedded launcher
(``make run``) provides all three for one machine; it marks that with ``KEISEI_EMBEDDED=1``.
"""

from __future__ import annotations

import datetime as dt

from keisei_site import env
from keisei_site.env import BASE_DIR, VAR_DIR
from monitoring.queues import DEFAULT_QUEUE, QUEUES, TRAINING_QUEUE

EMBEDDED = env.boolean("KEISEI_EMBEDDED", False)
DEBUG = env.boolean("DEBUG", False)

SECRET_KEY = env.get("SECRET_KEY") or ""
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY is not set: give a long random value (the embedded launcher, "
        "`make run`, makes one for this checkout in var/secret_key)"
    )

ALLOWED_HOSTS = env.csv_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if EMBEDDED or DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.csv_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first, so runserver is Daphne's (STACK-NOTES)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "keisei_site.apps.StaticFiles",  # django.contrib.staticfiles, with our ignore list
    "rest_framework",
    # Kept only so accounts' migration 0002 can read the old plain tokens (then deleted).
    "rest_framework.authtoken",
    "knox",
    "django_filters",
    "drf_spectacular",
    "channels",
    "accounts",  # after rest_framework.authtoken: its admin unregisters the plain tokens
    "audit",  # below accounts in the layers: every app's services may record to it
    "monitoring",
    "runs",
    "alerts",  # diagnostic rules on the metric stream, notifications, webhooks (docs/alerts.md)
    "play",  # a signed-in user plays a checkpoint on the board
    "axes",  # failed sign-ins counted, and locked out past a limit (accounts/lockout.py)
    "csp",  # the Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
]

MIDDLEWARE = [
    # First: every later log line of a request carries its id (X-Request-ID, echoed back).
    "monitoring.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view, form or CSRF check reads a body: one over KEISEI_MAX_REQUEST_BYTES is 413.
    "monitoring.request_limits.RequestSizeLimitMiddleware",
    "audit.context.AuditContextMiddleware",  # who asks and from where, for the audit log
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A refusal (monitoring.errors.ApplicationError) a page did not answer: its page or a 404.
    "runs.pages.RefusalMiddleware",
    # Last, as django-axes asks: a sign-in refused for a lockout becomes its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "keisei_site.urls"
ASGI_APPLICATION = "keisei_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "alerts.context_processors.unread",  # the header's badge of unread alerts
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 60, maximum=3600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The web process (keisei_site/asgi.py asks for it) borrows connections from a pool. Django
# under ASGI runs each request's sync code on a thread of its own, and a kept connection
# belongs to its thread: without a pool every request opened a new connection (~10 ms, half
# the time of a metric-history request). Workers keep theirs (a pool does not survive fork).
DATABASE_POOL_SIZE = env.integer("DATABASE_POOL_SIZE", 0, minimum=0, maximum=500)
if DATABASE_POOL_SIZE:
    # Django refuses kept connections with a pool; CONN_HEALTH_CHECKS (above) makes it check
    # each borrowed connection, so a PostgreSQL restart does not fail one request per pooled one.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {  # type: ignore[index]
        "min_size": min(2, DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        # A request waits this long for a free connection; then the API answers 503 (errors.py).
        "timeout": env.number("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1, maximum=300),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.redis_url("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.get("KEISEI_REDIS_PREFIX", "keisei"),
        # One pool per process, not one per request (monitoring/cache_pool.py).
        "OPTIONS": {"pool_class": "monitoring.cache_pool.SharedConnectionPool"},
    }
}
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub (channels_redis): in the stack trial it dropped no bursts and halved latency;
        # producers throttle. Subscriptions are retried on a dropped connection.
        "BACKEND": "monitoring.channel_layer.ReconnectingPubSubChannelLayer",
        "CONFIG": {
            # redis-py's 5 s default socket timeout closes idle sockets (channels_redis #422).
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
            "prefix": env.get("KEISEI_REDIS_PREFIX", "keisei"),
        },
    }
}

# Celery: long training on its own queue, one task reserved at a time, acked after it ends.
# The broker is Redis (REDIS_URL) unless CELERY_BROKER_URL names one, e.g. a RabbitMQ for a
# farm (amqp://); Celery itself reads CELERY_BROKER_URL too, so both agree. Every choice
# below, and why, is in docs/operations.md ("The broker").
CELERY_BROKER_URL = env.broker_url("CELERY_BROKER_URL", REDIS_URL)
BROKER_IS_AMQP = env.is_amqp(CELERY_BROKER_URL)
CELERY_TASK_ROUTES = {"runs.train_next_run": {"queue": TRAINING_QUEUE}}
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
# Acked when the task ends, so a task lost with its worker is delivered again; a pool process
# that dies (SIGKILL, OOM) sends its message back at once instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message reserved per pool process: a worker that trains for hours holds no second
# wake-up that an idle worker could have taken.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # state lives in PostgreSQL, not in a result backend
# A broker away at start-up or later is waited for (retried forever, with back-off), never a
# reason for a worker to exit; a publish retries a few times, then the service's error shows.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A lost broker connection must not cancel a training run in progress (hours of work): the
# run's lease in PostgreSQL holds it, and the redelivered wake-up only claims the next run.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# How long a worker may hold a message unacknowledged (a training run holds its wake-up from
# claim to end) before the broker gives it to another worker. Longer than a run should last:
# a redelivery while the first worker still trains is harmless (the lease keeps one trainer
# per run; the second delivery claims the next queued run or exits), but it is a spare
# wake-up and, on RabbitMQ, a closed channel that ends the worker after its run
# (monitoring/broker.py).
KEISEI_BROKER_ACK_TIMEOUT_SECONDS = env.integer(
    # RabbitMQ takes milliseconds in a signed 32-bit field: at most about 24 days.
    "KEISEI_BROKER_ACK_TIMEOUT_SECONDS",
    7 * 24 * 3600,
    minimum=3600,
    maximum=2_000_000,
)
if BROKER_IS_AMQP:
    # Queues and messages are durable by default (kombu: durable queues, persistent delivery
    # mode); publisher confirms make a publish return only once RabbitMQ has the message, so
    # a wake-up sent after commit is not lost in a broker crash.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"confirm_publish": True}
    # AMQP heartbeats: a dead TCP peer (a vanished host, a NAT dropping idle flows) is noticed
    # in about two intervals, not after the kernel's hours-long keepalive.
    CELERY_BROKER_HEARTBEAT = env.integer("CELERY_BROKER_HEARTBEAT", 60, minimum=0, maximum=600)
    # RabbitMQ closes a consumer's channel when a delivery stays unacked longer than its
    # consumer_timeout (30 min by default): every training run does. From RabbitMQ 3.12 a
    # consumer argument raises it for our consumers alone; older servers ignore the argument
    # (3.10 here) and need consumer_timeout raised in rabbitmq.conf (docs/operations.md).
    # No x-max-priority: run priorities live in PostgreSQL, the queues are FIFO wake-ups.
    from kombu import Exchange, Queue

    CELERY_TASK_QUEUES = [
        Queue(
            name,
            Exchange(name),  # the shape Celery gives a queue it creates by name, as on Redis
            routing_key=name,
            consumer_arguments={"x-consumer-timeout": KEISEI_BROKER_ACK_TIMEOUT_SECONDS * 1000},
        )
        for name in QUEUES
    ]
else:
    # Redis has no acknowledgements of its own: kombu redelivers a message unacked for longer
    # than the visibility timeout, so it is the same timeout.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": KEISEI_BROKER_ACK_TIMEOUT_SECONDS}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The lockout check first: a locked-out pair is refused before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Repeated failed sign-ins (the login page, the admin, HTTP Basic on POST tokens/) of one
# username from one address lock that pair out for a while. The pair, not the username alone,
# so nobody can lock a user out from elsewhere; not the address alone, so one office behind
# one address is not locked out by one person's typos. A success clears the count.
AXES_FAILURE_LIMIT = env.integer("KEISEI_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = dt.timedelta(
    minutes=env.integer("KEISEI_LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "audit.context.client_ip"  # the audit log's address, the same rule
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "runs:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.get("STATIC_ROOT") or str(VAR_DIR / "static")
# Front-end packages come from npm at setup (node_modules/, never committed).
STATICFILES_DIRS = [
    ("vendor/uplot", BASE_DIR / "node_modules" / "uplot" / "dist"),
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/shogiground", BASE_DIR / "node_modules" / "shogiground" / "dist"),
    ("vendor/swagger-ui", BASE_DIR / "node_modules" / "swagger-ui-dist"),
    # The game viewer's rules and notation (shogiops; its bare import of @badrap/result is
    # resolved when the scripts are bundled) and the board's Japanese font, whose CSS loads
    # only the subsets holding the glyphs a page shows.
    ("vendor/shogiops", BASE_DIR / "node_modules" / "shogiops" / "dist"),
    ("vendor/noto-serif-jp", BASE_DIR / "node_modules" / "@fontsource" / "noto-serif-jp"),
    BASE_DIR / "static",
]
STORAGE_BACKEND = env.get("STORAGE_BACKEND", "local")
MEDIA_ROOT = env.get("MEDIA_ROOT") or str(VAR_DIR / "media")
MEDIA_URL = "media/"
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.require("S3_BUCKET", "STORAGE_BACKEND=s3 needs a bucket"),
            "endpoint_url": env.get("S3_ENDPOINT_URL") or None,
            "access_key": env.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": env.get("S3_SECRET_ACCESS_KEY") or None,
            "region_name": env.get("S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
            # Download links (runs/storage_urls.py) last 5 minutes, not boto's hour: enough to
            # start the download (a transfer under way outlives it), and a copied link soon dies.
            "querystring_expire": 300,
            # boto3 presigns with the deprecated SigV2 unless told; SigV4 is what S3 and MinIO
            # take everywhere, and it binds the link to its host (runs/storage_urls.py).
            "signature_version": "s3v4",
        },
    }
elif STORAGE_BACKEND == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', got {STORAGE_BACKEND!r}")
STORAGES = {
    "default": _default_storage,
    # WhiteNoise's compressed storage; collectstatic first bundles the page scripts (esbuild).
    "staticfiles": {"BACKEND": "keisei_site.static_bundles.BundlingStaticFilesStorage"},
}
# Where browsers reach the store when that differs from S3_ENDPOINT_URL (compose: MinIO is
# minio:9000 inside, the proxy's site outside); download links are signed for this address.
S3_PUBLIC_ENDPOINT_URL = env.origin_url("S3_PUBLIC_ENDPOINT_URL")

REST_FRAMEWORK = {
    # The token first: DRF answers a refusal with 401 (not 403) only when the first class
    # names a WWW-Authenticate scheme. HTTP Basic is added on POST tokens/ alone (accounts.api).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The runs list pages by cursor (runs.pagination); no other list is paged.
    "DEFAULT_PAGINATION_CLASS": None,
    # Per user; 429 "throttled" with Retry-After past KEISEI_API_RATE (monitoring.throttling).
    "DEFAULT_THROTTLE_CLASSES": ["monitoring.throttling.ApiUserThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Every refusal, ours and DRF's, in one body: {"error": {code, message, fields}, "detail"}.
    "EXCEPTION_HANDLER": "monitoring.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Requests per user (``N/s``, ``/min``, ``/hour``, ``/day``, or ``off``): generous, so the CLI
# and scripts that poll never meet it; it stops a runaway loop, not a person.
KEISEI_API_RATE = env.rate("KEISEI_API_RATE", "1200/min")

# The OpenAPI schema (/api/schema/) and its docs page (/api/docs/, Swagger UI from npm).
SPECTACULAR_SETTINGS = {
    "TITLE": "Keisei Site API",
    "DESCRIPTION": "Queue and steer training runs, read what they leave behind. "
    "Every refusal has one body: {error: {code, message, fields}, detail}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "monitoring.schema.add_common_refusals",
    ],
    # Served from our own static files (node_modules/swagger-ui-dist): no CDN.
    "SWAGGER_UI_DIST": f"/{STATIC_URL.strip('/')}/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL.strip('/')}/vendor/swagger-ui/favicon-32x32.png",
}

# Personal API tokens (accounts): knox's hashed tokens, with our model (name, revocation).
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own migrations create its AuthToken table even when the model is swapped out; an
# unused table with a foreign key to auth_user breaks flushing it. With no migrations, knox's
# only model (swapped) gets no table.
MIGRATION_MODULES = {"knox": None}

# Where a worker trains: checkpoints are written here first, then copied to storage.
KEISEI_WORK_DIR = env.get("KEISEI_WORK_DIR") or str(VAR_DIR / "work")
# Worker placement (docs/operations.md, "Workers"): the GPUs this worker declares (0: CPU
# only; the launcher starts one worker per GPU), and how often it says it is alive.
KEISEI_WORKER_GPUS = env.integer("KEISEI_WORKER_GPUS", 0, minimum=0, maximum=64)
KEISEI_WORKER_HEARTBEAT_SECONDS = env.integer(
    "KEISEI_WORKER_HEARTBEAT_SECONDS", 10, minimum=1, maximum=3600
)
# Live-message throttles (seconds between messages of a kind, per run): metrics at most 2/s,
# the board 4/s, progress 1/s, a federated run's client updates 2/s by default.
KEISEI_LIVE_METRICS_INTERVAL = env.number(
    "KEISEI_LIVE_METRICS_SECONDS", 0.5, minimum=0.05, maximum=3600
)
KEISEI_LIVE_BOARD_INTERVAL = env.number(
    "KEISEI_LIVE_BOARD_SECONDS", 0.25, minimum=0.05, maximum=3600
)
KEISEI_LIVE_PROGRESS_INTERVAL = env.number(
    "KEISEI_LIVE_PROGRESS_SECONDS", 1.0, minimum=0.05, maximum=3600
)
KEISEI_LIVE_CLIENTS_SECONDS = env.number(
    "KEISEI_LIVE_CLIENTS_SECONDS", 0.5, minimum=0.05, maximum=3600
)
# The run lease: a worker renews it every heartbeat; expired leases are reaped by beat.
KEISEI_LEASE_SECONDS = env.integer("KEISEI_LEASE_SECONDS", 60, minimum=3, maximum=3600)
KEISEI_REAPER_SECONDS = env.integer("KEISEI_REAPER_SECONDS", 15, minimum=1, maximum=3600)
# A trainer that reports nothing and polls for no command for this long is hung: the worker
# fails its run with that reason and ends its own process. Generous: one shogi update on two
# slow cores takes about a minute, an evaluation match several (docs/operations.md).
KEISEI_HANG_SECONDS = env.integer("KEISEI_HANG_SECONDS", 900, minimum=3, maximum=7 * 86400)
# E-mail (alert notifications, docs/alerts.md): Django's SMTP backend unless told otherwise;
# the embedded mode and tests write messages to files under the var folder instead.
EMAIL_BACKEND = env.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend"
    if EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
EMAIL_HOST = env.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.boolean("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL: set one of them, not both")
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10, minimum=1, maximum=600)
DEFAULT_FROM_EMAIL = env.get("DEFAULT_FROM_EMAIL", "keisei@localhost")
# The nice value of a process once it trains (runs/priority.py): Daphne, PostgreSQL and
# Redis on the same host answer first. 0 leaves training at the web tier's priority.
KEISEI_TRAINING_NICE = env.integer("KEISEI_TRAINING_NICE", 10, minimum=0, maximum=19)
# A queued run that could start but has had no change for this long gets a fresh wake-up.
KEISEI_STRANDED_RUN_SECONDS = env.integer(
    "KEISEI_STRANDED_RUN_SECONDS", 60, minimum=1, maximum=86400
)
KEISEI_MAX_ATTEMPTS = env.integer("KEISEI_MAX_ATTEMPTS", 3, minimum=1, maximum=100)
# The most steps one run may plan, in its trainer's unit (positions for shogi-ppo, epochs for
# digits: the field each trainer names as its budget); a config over it is refused at queueing.
KEISEI_MAX_RUN_STEPS = env.integer("KEISEI_MAX_RUN_STEPS", 1_000_000_000, minimum=1, maximum=2**62)
# Quotas: defaults for users without their own (admin: Runs > User quotas).
KEISEI_DEFAULT_MAX_RUNNING = env.integer("KEISEI_DEFAULT_MAX_RUNNING", 2, minimum=1, maximum=1000)
KEISEI_DEFAULT_MAX_QUEUED = env.integer("KEISEI_DEFAULT_MAX_QUEUED", 20, minimum=1, maximum=10000)
KEISEI_GLOBAL_MAX_QUEUED = env.integer("KEISEI_GLOBAL_MAX_QUEUED", 1000, minimum=1, maximum=10**6)
# Checkpoint storage: bytes of stored checkpoints one run may hold, and one user over all their
# runs (a user's own limit in the admin overrides the second). A checkpoint past either is not
# stored (the timeline says which limit); a user past theirs cannot queue a run.
KEISEI_MAX_RUN_CHECKPOINT_BYTES = env.integer(
    "KEISEI_MAX_RUN_CHECKPOINT_BYTES", 10 * 1024**3, minimum=1024, maximum=2**62
)
KEISEI_DEFAULT_MAX_STORAGE_BYTES = env.integer(
    "KEISEI_DEFAULT_MAX_STORAGE_BYTES", 50 * 1024**3, minimum=1024, maximum=2**62
)
# Retention: periodic checkpoints kept per run (manual, backup, best and final are all kept).
KEISEI_KEEP_PERIODIC_CHECKPOINTS = env.integer(
    "KEISEI_KEEP_PERIODIC_CHECKPOINTS", 3, minimum=1, maximum=1000
)
CELERY_BEAT_SCHEDULE = {
    "reap-expired-leases": {
        "task": "runs.reap_expired_leases",
        "schedule": float(KEISEI_REAPER_SECONDS),
        "options": {"queue": DEFAULT_QUEUE, "expires": float(KEISEI_REAPER_SECONDS)},
    },
    "wake-stranded-runs": {
        "task": "runs.wake_stranded_runs",
        "schedule": float(KEISEI_REAPER_SECONDS),
        "options": {"queue": DEFAULT_QUEUE, "expires": float(KEISEI_REAPER_SECONDS)},
    },
}

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Behind a TLS proxy (docker/Caddyfile): the proxy says the scheme (X-Forwarded-Proto) and
# appends the client's address to X-Forwarded-For, the one hop taken as the client's.
BEHIND_TLS_PROXY = env.boolean("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.boolean("SECURE_COOKIES", False)
# HSTS only where the site is served over TLS: a year by default, 0 turns it off.
SECURE_HSTS_SECONDS = env.integer(
    "SECURE_HSTS_SECONDS", 31_536_000 if BEHIND_TLS_PROXY else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False  # the operator's other hosts are not ours to bind
# The largest request body read (monitoring/request_limits.py): a run's config and notes are
# kilobytes; nothing is uploaded through the web. Django's own form limit follows it.
KEISEI_MAX_REQUEST_BYTES = env.integer(
    "KEISEI_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024, maximum=1024**3
)
DATA_UPLOAD_MAX_MEMORY_SIZE = KEISEI_MAX_REQUEST_BYTES
# Every script, style, font and image comes from the site itself, with no inline script or
# style: a name, tag or note that slipped past escaping still could not run. The pages satisfy
# it (the browser tests fail on any violation Chromium reports); JSON data blocks are
# type="application/json", which no policy blocks. connect-src 'self' covers the same-origin
# WebSocket. frame-ancestors 'none' is X-Frame-Options DENY for browsers that read CSP.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# LOG_FORMAT=json: one JSON object a line, with the request id and the run id
# (monitoring/log_context.py); text (the default) reads better in `make run`'s terminal.
LOG_FORMAT = env.choice("LOG_FORMAT", ("text", "json"), "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "monitoring.log_context.ContextFilter"}},
    "formatters": {
        "text": {"()": "monitoring.log_context.TextFormatter"},
        "json": {"()": "monitoring.log_context.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
# /readyz: seconds each check (database, migrations, broker, channel layer, cache) may take.
KEISEI_READY_CHECK_SECONDS = env.number("KEISEI_READY_CHECK_SECONDS", 2.0, minimum=0.1, maximum=60)
# /metrics: a scraper's bearer token (staff signed in need none); empty: staff only.
METRICS_TOKEN = env.get("METRICS_TOKEN", "")

# Live connections and worker statistics (docs/websocket.md). Over a cap, a WebSocket is
# accepted, then closed with 4008 and the reason.
KEISEI_WS_MAX_PER_USER = env.integer("KEISEI_WS_MAX_PER_USER", 20, minimum=1, maximum=100_000)
# Messages a client may send a second on one socket, in bursts of twice that
# (monitoring/message_rate.py); past it the socket is closed with 4029.
KEISEI_WS_MESSAGE_RATE = env.integer("KEISEI_WS_MESSAGE_RATE", 10, minimum=1, maximum=10_000)
KEISEI_WS_MAX_PER_PROCESS = env.integer(
    "KEISEI_WS_MAX_PER_PROCESS", 2000, minimum=1, maximum=1_000_000
)
# Seconds between a worker's statistics; it is shown lost after three silent intervals.
KEISEI_SYSTEM_STATS_SECONDS = env.integer("KEISEI_SYSTEM_STATS_SECONDS", 2, minimum=1, maximum=3600)

# The league (docs/api.md): a round of matches between neighbours in the rating list.
KEISEI_LEAGUE_SECONDS = env.integer("KEISEI_LEAGUE_SECONDS", 300, minimum=5, maximum=86400)
KEISEI_LEAGUE_MATCHES_PER_ROUND = env.integer(
    "KEISEI_LEAGUE_MATCHES_PER_ROUND", 4, minimum=1, maximum=100
)
KEISEI_LEAGUE_GAMES = env.integer("KEISEI_LEAGUE_GAMES", 10, minimum=2, maximum=400)
CELERY_BEAT_SCHEDULE["league-round"] = {
    "task": "runs.league_round",
    "schedule": float(KEISEI_LEAGUE_SECONDS),
    "options": {"queue": DEFAULT_QUEUE, "expires": float(KEISEI_LEAGUE_SECONDS)},
}

"""The HTTP engine, pure Python with no Airflow imports: usable from scripts and SDKs."""

from airflow_provider_apisync.client.client import ApiClient
from airflow_provider_apisync.client.config import ClientConfig, config_from_connection
from airflow_provider_apisync.client.errors import (
    ApiAuthError,
    ApiClientError,
    ApiConfigError,
    ApiContractError,
    ApiError,
    ApiRateLimitError,
    ApiServerError,
    ApiTransportError,
    ForeignHostError,
    PaginationLoopError,
)
from airflow_provider_apisync.client.ratelimit import RateLimitStatus

__all__ = [
    "ApiAuthError",
    "ApiClient",
    "ApiClientError",
    "ApiConfigError",
    "ApiContractError",
    "ApiError",
    "ApiRateLimitError",
    "ApiServerError",
    "ApiTransportError",
    "ClientConfig",
    "ForeignHostError",
    "PaginationLoopError",
    "RateLimitStatus",
    "config_from_connection",
]

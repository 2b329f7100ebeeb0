"""Names of the httpOnly cookies that carry a browser's tokens (read by the API, set by the schema)."""

ACCESS_COOKIE = "forexcrm_access"
REFRESH_COOKIE = "forexcrm_refresh"

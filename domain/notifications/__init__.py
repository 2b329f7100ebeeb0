"""Notifications beyond the in-app list (issue 23): the user's devices, push through FCM and APNs, the delivery
log and per-kind, per-channel preferences."""

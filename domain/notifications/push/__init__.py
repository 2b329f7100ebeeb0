"""Push providers behind one port (`port.PushPort`): FCM HTTP v1 (`fcm`) and APNs over HTTP/2 (`apns`)."""

"""Pure domain code: no boto3, no environment, no sockets."""

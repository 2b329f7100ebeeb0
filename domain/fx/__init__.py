"""FX: exchange rates from a configured source (port + adapters), stored with their source and time,
and quotes a client accepts to exchange between wallets."""

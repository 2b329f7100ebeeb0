"""Runtime pieces shared by api/, schema/ and jobs/: services, metrics, logging, cookie names."""

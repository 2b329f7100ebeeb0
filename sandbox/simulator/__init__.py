"""A trading-server simulator that speaks the MT5 Web API subset our MT5 adapter uses.

Run: python -m sandbox.simulator --port 8501 --data-dir .data/sim1 --seed 1 --rate 50 \
         --manager-login 1000 --manager-password '...'
"""

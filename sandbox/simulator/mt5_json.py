"""Serialisation of simulator objects in MT5 Web API JSON form (numbers as strings, as MT5 sends)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.simulator.engine import GROUPS, Account, Engine, Group, Pos
from sandbox.simulator.market import INSTRUMENTS, Instrument


def user(a: Account) -> dict[str, Any]:
    return {
        "Login": str(a.login), "Group": a.group, "CertSerialNumber": "0", "Rights": str(a.rights),
        "Registration": str(a.registration), "LastAccess": str(a.registration), "LastPassChange": "0",
        "Name": a.name, "Company": "", "Account": "", "Country": a.country, "Language": "0", "City": a.city,
        "State": "", "ZipCode": a.zip_code, "Address": a.address, "Phone": a.phone, "EMail": a.email,
        "ID": "", "Status": "", "Comment": a.comment, "Color": "4278190080", "PhonePassword": "",
        "Leverage": str(a.leverage), "Agent": "0", "Balance": str(a.balance), "Credit": str(a.credit),
        "InterestRate": "0", "CommissionDaily": "0.00", "CommissionMonthly": "0.00",
        "LeadSource": a.lead_source, "LeadCampaign": "",
    }  # fmt: skip


def account(engine: Engine, a: Account) -> dict[str, Any]:
    f = engine.figures(a.login)
    return {
        "Login": str(a.login), "CurrencyDigits": "2", "Balance": str(f.balance), "Credit": str(f.credit),
        "Margin": str(f.margin), "MarginFree": str(f.margin_free), "MarginLevel": str(f.margin_level),
        "MarginLeverage": str(a.leverage), "Profit": str(f.floating + f.storage), "Storage": str(f.storage),
        "Commission": "0.00", "Floating": str(f.floating), "Equity": str(f.equity), "SOActivation": "0",
        "SOTime": "0", "SOLevel": "0.00", "SOEquity": "0.00", "SOMargin": "0.00", "Assets": "0.00",
        "Liabilities": "0.00", "BlockedCommission": "0.00", "BlockedProfit": "0.00",
        "MarginInitial": "0.00", "MarginMaintenance": "0.00",
    }  # fmt: skip


def position(engine: Engine, p: Pos) -> dict[str, Any]:
    inst = INSTRUMENTS[p.symbol]
    bid, ask = engine.feed.bid_ask(p.symbol)
    return {
        "Position": str(p.position), "ExternalID": "", "Login": str(p.login), "Dealer": "0",
        "Symbol": p.symbol,
        "Action": str(p.action), "Digits": str(inst.digits), "DigitsCurrency": "2", "Reason": "1",
        "ContractSize": str(inst.contract_size), "TimeCreate": str(p.time_create_msc // 1000),
        "TimeUpdate": str(p.time_update_msc // 1000), "TimeCreateMsc": str(p.time_create_msc),
        "TimeUpdateMsc": str(p.time_update_msc), "PriceOpen": str(p.price_open),
        "PriceCurrent": str(bid if p.action == 0 else ask), "PriceSL": "0", "PriceTP": "0",
        "Volume": str(p.volume_ext // 10_000), "VolumeExt": str(p.volume_ext),
        "Profit": str(engine.position_profit(p)), "Storage": str(p.storage),
        "RateProfit": f"{engine.feed.to_usd(inst.profit):.8f}", "RateMargin": "0", "ExpertID": "0",
        "ExpertPositionID": "0", "Comment": p.comment, "ActivationMode": "0", "ActivationTime": "0",
        "ActivationPrice": "0", "ActivationFlags": "0",
    }  # fmt: skip


def group(g: Group) -> dict[str, Any]:
    commissions = []
    if g.commission_per_lot:
        commissions.append({
            "Name": "per lot", "Description": "", "Path": "*", "Mode": "0", "RangeMode": "2",
            "ChargeMode": "0", "TurnoverCurrency": g.currency, "EntryMode": "0",
            "Tiers": [{"Mode": "2", "Type": "0", "Value": str(g.commission_per_lot), "Minimal": "0",
                       "RangeFrom": "0", "RangeTo": "0", "Currency": g.currency, "Maximal": "0"}],
        })  # fmt: skip
    return {
        "Group": g.name, "Server": "1", "PermissionsFlags": "0", "AuthMode": "0", "AuthPasswordMin": "8",
        "Company": "Simulated Broker", "Currency": g.currency, "CurrencyDigits": "2", "ReportsMode": "1",
        "MarginCall": str(g.margin_call), "MarginStopOut": str(g.stop_out), "MarginSOMode": "0",
        "MarginMode": "0", "TradeFlags": "0", "LimitPositions": "0", "Leverage": str(g.leverage),
        "Commissions": commissions, "Symbols": [{"Path": "*"}],
    }  # fmt: skip


def symbol(i: Instrument) -> dict[str, Any]:
    point = Decimal(1).scaleb(-i.digits)
    return {
        "Symbol": i.symbol, "Path": i.path, "ISIN": "", "Description": i.symbol, "International": "",
        "Basis": "", "Source": "", "Page": "", "CurrencyBase": i.base, "CurrencyBaseDigits": "2",
        "CurrencyProfit": i.profit, "CurrencyProfitDigits": "2", "CurrencyMargin": i.base,
        "CurrencyMarginDigits": "2", "Color": "4278190080", "ColorBackground": "4294967295",
        "Digits": str(i.digits), "Point": str(point), "Multiply": str(10**i.digits),
        "TickFlags": "0", "TickBookDepth": "0", "FilterSoft": "100", "FilterHard": "500",
        "Spread": "0", "SpreadBalance": "0", "TickValue": "0", "TickSize": "0",
        "ContractSize": str(i.contract_size), "CalcMode": str(i.calc_mode), "SwapMode": "1",
        "SwapLong": str(i.swap_long), "SwapShort": str(i.swap_short), "Swap3Day": "3",
        "VolumeMin": "100", "VolumeMax": "10000000", "VolumeStep": "100",
        "VolumeMinExt": "1000000", "VolumeMaxExt": "100000000000", "VolumeStepExt": "1000000",
    }  # fmt: skip


def groups() -> list[Group]:
    return list(GROUPS.values())

"""Maintained word lists for ticker detection. Edit here; the tests read these too.

``BARE_SYMBOL_STOPLIST``: upper-case words and acronyms that are never read as a bare
ticker, even when they are listed symbols (ALL is Allstate, NOW is ServiceNow, IT is
Gartner): those tickers still match as ``$ALL``, ``(NYSE: ALL)`` or by company name.

``AMBIGUOUS_NAMES``: short company names that are everyday words or common names
(lower case, one word). They do not detect a company on their own; the longer form does
("Match Group", "Booking Holdings"), and a config alias can always bring one back.

``EXCHANGES``: how news text names an exchange before a symbol (``NYSE: BABA``), with the
Yahoo suffix its symbols take (``TSX: SHOP`` is ``SHOP.TO``).
"""

from __future__ import annotations

from typing import Final


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


BARE_SYMBOL_STOPLIST: Final[frozenset[str]] = _wordlist(
    """
    AI IT US USA UK EU UN UAE CEO CFO CTO COO CIO CMO EVP SVP VP ETF ETFS ETN IPO IPOS SPAC ON ALL NOW
    A AN AM AS AT BE BY DO GO HE IF IN IS ME MY NO OF OK OR SO TO UP WE OH HI ID
    ARE HAS WAS NOT BUT AND FOR THE NEW BIG OLD TOP LOW HIGH KEY SEE ONE TWO OUT OWN
    CAN MAY JOE MAN MET RUN EAT FUN FIX SKY YOU WAY EYE ROCK STEP TECH UNIT WELL SAFE PLAY PLUS
    CASH CARS BOX BOOT CAKE CALM HOPE GOLF AUTO FAST DOW COST LIFE CARE GAIN LOVE REAL TRUE
    SEC FDA FTC DOJ FCC EPA IRS FED FOMC ECB BOJ BOE PBOC IMF OPEC NATO WTO WHO CDC NIH NHTSA FAA
    GDP CPI PPI PCE PMI ISM NFP EPS PE PEG ROI ROE ROA ARR MRR EBIT EBITDA GAAP IFRS CAGR YOY QOQ
    YTD MTD ATH ATL FY Q1 Q2 Q3 Q4 H1 H2 TTM NAV AUM ESG DEI M&A IR PR HR IP PM ET EST EDT PT PST
    PDT CT CST CDT GMT UTC BST CET NYSE NASDAQ AMEX TSX TSXV CSE OTC LSE HKEX SSE SZSE NYC LA DC
    NY NJ CA TX FL WA MA MD DE PA CO IL OK ME AL AZ GA MI MN MO NC NV OH SC TN VA WI
    API APIS SAAS CPU GPU GPUS TPU CHIP CHIPS RAM SSD PC PCS TV EV EVS AV AR VR XR IOT LLM LLMS GPT
    USD EUR JPY GBP CNY RMB CAD AUD CHF HKD INR KRW BRL MXN BTC ETH XRP NFT NFTS
    INC CORP LLC LTD PLC LP LLP NA SA AG SE NV CO AB
    II III IV VI VII VIII IX XI XII
    TBD TBA FAQ PDF CEOS DIY RSS URL USB DD CC CI ED EG IE MD UN PG NI OI SI SM
    ASAP FYI RIP OMG LOL IMO IMHO HP
    """
)

AMBIGUOUS_NAMES: Final[frozenset[str]] = _wordlist(
    """
    admiral alamo alarm ball berkeley block booking box brady buckle cactus carnival cars city
    compass continental cooper dana deluxe diploma disco douglas dover elisa employers enact everest
    evolution fox gates harmonic hartford hawkins hayward hilltop hub indus integer interface investor
    lindsay match mosaic nasdaq news next noble norma northern orange orion partners phoenix pool
    progressive rational recruit redwood rogers sage sharp southern sto stride target travelers
    universal verve waters wiley williams now shift screen acs geo pra mlp sse myr ses seb smc icg
    rpc imi fis global general american national united first equity public republic union
    """
)

# Exchange names as news text writes them (matched case-insensitively, longest first) and
# the Yahoo suffix their symbols take ("" for US exchanges).
EXCHANGES: Final[dict[str, str]] = {
    "NYSE American": "",
    "NYSE Arca": "",
    "NYSE MKT": "",
    "NYSEAMERICAN": "",
    "NYSEARCA": "",
    "NYSE": "",
    "NasdaqGS": "",
    "NasdaqGM": "",
    "NasdaqCM": "",
    "Nasdaq": "",
    "AMEX": "",
    "Cboe BZX": "",
    "Cboe": "",
    "BATS": "",
    "OTCQX": "",
    "OTCQB": "",
    "OTC Pink": "",
    "OTC Markets": "",
    "OTCMKTS": "",
    "OTC": "",
    "TSX Venture": ".V",
    "TSX-V": ".V",
    "TSXV": ".V",
    "TSX": ".TO",
    "CSE": ".CN",
    "Cboe Canada": ".NE",
    "NEO": ".NE",
}

"""Maintained word lists for ticker detection. Edit here; the tests read these too.

``BARE_SYMBOL_STOPLIST``: upper-case words and acronyms that are never read as a bare
ticker, even when they are listed symbols (ALL is Allstate, NOW is ServiceNow, IT is
Gartner): those tickers still match as ``$ALL``, ``(NYSE: ALL)`` or by company name.

``AMBIGUOUS_NAMES`` (with ``NEVER_ALONE``): one-word company names too generic to name a
company on their own, whatever the context ("General", "Progressive"); the longer form does
("Progressive Corp"), and a config alias can always bring one back. Other everyday words
("Target", "Block") and places are used with a capital letter in a context that says
"a company" (see ``bot.domain.rules.context``); ``ordinary_words()`` is the dictionary.

``EXCHANGES``: how news text names an exchange before a symbol (``NYSE: BABA``), with the
Yahoo suffix its symbols take (``TSX: SHOP`` is ``SHOP.TO``).
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib.resources import files
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
    LNG WTI DNA RNA MRNA CBD THC SUV SUVS HVAC AP UPI NBA NFL MLB NHL PGA FIFA NASA CNN BBC CNBC WSJ FT
    NPR IRA IRAS ACA ADA EOD AH ATM OTC REIT REITS ADR ADRS PAC GOP DEM LGBT STEM HQ RV AC DC
    """
)

AMBIGUOUS_NAMES: Final[frozenset[str]] = _wordlist(
    """
    alarm city diploma disco employers enact everest evolution global general american national
    united first equity public republic union hub indus integer interface investor news next noble
    norma northern partners progressive rational recruit southern stride universal now shift screen
    acs geo pra mlp sse myr ses seb smc icg rpc imi fis sto elisa verve continental harmonic
    nasdaq nyse cboe amex dow nikkei ftse russell stoxx
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


# ---------------------------------------------------------------- company names

# Legal forms, removed from the end of a name repeatedly (lower case, dots and slashes removed):
# "Alibaba Group Holding Limited" -> "Alibaba". "adr"/"ads" and share-class words go too.
LEGAL_SUFFIXES: Final[frozenset[str]] = _wordlist(
    """
    inc incorporated corp corporation co company cos companies holding holdings hldgs hldg group grp
    plc ltd limited llc lp llp nv sa se ag asa as ab oyj spa sas sarl bv kgaa kg gmbh tbk bhd pte pty
    publ reit trust tr adr ads adrs sponsored unsponsored new old the de cv sab sapi saa nl
    """
)

# Generic industry words whose removal leaves a short form *if* what remains is distinctive:
# "Foo Pharmaceuticals" -> "Foo", "Cisco Systems" -> "Cisco"; "Texas Instruments" keeps its
# full name ("Texas" is a place). Abbreviated forms news uses are added ("Foo Pharma").
INDUSTRY_WORDS: Final[frozenset[str]] = _wordlist(
    """
    pharmaceuticals pharmaceutical pharma pharmas therapeutics therapeutic biosciences bioscience
    biopharma biopharmaceuticals biopharmaceutical biotherapeutics biotechnology biotech biologics
    bio sciences science oncology medical diagnostics genomics genetics healthcare health
    technologies technology tech systems system solutions software networks network semiconductor
    semiconductors microsystems micro electronics devices instruments industries industrial
    enterprises enterprise international intl worldwide global brands foods food beverages beverage
    stores retail entertainment communications communication media interactive labs laboratories lab
    bancorp bancorporation bancshares bankshares financial finance capital partners properties
    property realty resources energy mining minerals metals oil gas petroleum motors motor automotive
    auto parts aerospace airlines airline logistics transportation services service hospitality
    restaurants apparel resorts homes brothers bros platforms platform materials products chemicals
    chemical pharmacy wireless telecom broadcasting studios games gaming robotics sensors power
    utilities water infrastructure construction engineering manufacturing mfg distributors
    distribution cruises cruise lines line air insurance acquisition acquisitions investors investment
    investments wholesale outfitters supply supplies farms market markets club clubs ai
    """
)

# Full words news writes in a shorter way: each gives an extra form ("Foo Pharma").
ABBREVIATIONS: Final[dict[str, str]] = {
    "pharmaceuticals": "Pharma",
    "pharmaceutical": "Pharma",
    "technologies": "Tech",
    "laboratories": "Labs",
    "international": "Intl",
    "communications": "Comms",
    "semiconductor": "Semi",
}

# Places, regions, rivers and peoples: as a one-word company name they need context
# ("the Amazon basin" is no Amazon.com story). Lower case.
PLACES: Final[frozenset[str]] = _wordlist(
    """
    afghanistan albania algeria andorra angola argentina armenia australia austria azerbaijan bahamas
    bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia botswana brazil
    brunei bulgaria burundi cambodia cameroon canada chad chile china colombia congo croatia cuba
    cyprus czechia denmark djibouti dominica ecuador egypt eritrea estonia eswatini ethiopia fiji
    finland france gabon gambia georgia germany ghana greece grenada guatemala guinea guyana haiti
    honduras hungary iceland india indonesia iran iraq ireland israel italy jamaica japan jordan
    kazakhstan kenya kiribati korea kosovo kuwait kyrgyzstan laos latvia lebanon lesotho liberia libya
    liechtenstein lithuania luxembourg madagascar malawi malaysia maldives mali malta mauritania
    mauritius mexico micronesia moldova monaco mongolia montenegro morocco mozambique myanmar burma
    namibia nauru nepal netherlands holland nicaragua niger nigeria norway oman pakistan palau
    palestine panama paraguay peru philippines poland portugal qatar romania russia rwanda samoa
    senegal serbia seychelles singapore slovakia slovenia somalia spain sudan suriname sweden
    switzerland syria taiwan tajikistan tanzania thailand togo tonga trinidad tunisia turkey turkiye
    turkmenistan tuvalu uganda ukraine uruguay uzbekistan vanuatu vatican venezuela vietnam yemen
    zambia zimbabwe britain england scotland wales ulster america americas europe asia africa
    antarctica oceania arctic atlantic pacific caribbean mediterranean baltic balkans scandinavia
    siberia patagonia sahara sahel amazon amazonia andes alps himalaya himalayas rockies appalachia
    nile danube rhine thames yangtze ganges mekong volga hudson potomac mississippi missouri
    columbia colorado delaware susquehanna rio grande orinoco niagara everest kilimanjaro
    alabama alaska arizona arkansas california carolina connecticut florida hawaii idaho illinois
    indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota montana
    nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah vermont virginia
    washington wisconsin wyoming dakota hampshire jersey york mexico puerto rico guam manhattan
    brooklyn queens bronx chicago boston atlanta dallas houston austin denver phoenix seattle
    portland miami orlando tampa detroit cleveland pittsburgh philadelphia baltimore charlotte
    nashville memphis louisville milwaukee minneapolis omaha tulsa oakland sacramento berkeley
    hollywood vegas reno tucson albuquerque honolulu anchorage richmond raleigh durham buffalo
    albany hartford providence newark cincinnati columbus indianapolis jacksonville savannah
    london paris berlin madrid rome milan munich frankfurt hamburg zurich geneva vienna brussels
    amsterdam rotterdam dublin lisbon stockholm oslo copenhagen helsinki warsaw prague budapest
    athens istanbul moscow kyiv kiev beijing shanghai shenzhen guangzhou hong kong macau taipei tokyo
    osaka seoul mumbai delhi bangalore bengaluru chennai kolkata karachi dhaka jakarta manila
    bangkok hanoi kuala lumpur sydney melbourne brisbane perth auckland toronto montreal vancouver
    calgary ottawa quebec ontario alberta manitoba saskatchewan dubai riyadh doha tehran baghdad
    cairo lagos nairobi johannesburg cape sao paulo buenos aires santiago lima bogota caracas
    havana monterrey gaza crimea donbas kashmir tibet xinjiang hokkaido bavaria catalonia flanders
    lombardy normandy provence tuscany cornwall yorkshire silicon valley wall street midwest
    southwest northeast southeast northwest
    american americans british canadian chinese japanese korean indian german french italian spanish
    dutch swiss swedish norwegian danish finnish irish scottish welsh russian ukrainian polish
    brazilian mexican argentine australian european asian african arab israeli iranian saudi
    turkish greek egyptian nigerian kenyan indonesian vietnamese thai filipino malaysian
    singaporean taiwanese pakistani texan californian
    """
)

# Names of more than one word that name no company alone: indices and markets.
NEVER_PHRASES: Final[frozenset[str]] = frozenset({"s p", "dow jones", "s p global ratings", "ftse russell"})

# Places of more than one word (a name reduced to one of these is no short form).
PLACE_PHRASES: Final[frozenset[str]] = frozenset(
    " ".join(p.split())
    for p in """palo alto|new york|hong kong|san francisco|los angeles|las vegas|silicon valley|wall street
    |south africa|north america|south america|latin america|new jersey|new zealand|puerto rico|rio grande
    |sao paulo|buenos aires|kuala lumpur|abu dhabi|saudi arabia|south korea|north korea|north carolina
    |south carolina|north dakota|south dakota|west virginia|new mexico|new hampshire|rhode island
    |san diego|san jose|santa clara|santa monica|st louis|salt lake|kansas city|oklahoma city
    |new orleans|long island|cape town|tel aviv|sri lanka|costa rica|el salvador|united states
    |united kingdom|middle east|far east|gulf coast|west coast|east coast|great lakes|main street
    |red sea|black sea|south china|east china|persian gulf""".split("|")  # noqa: SIM905
)

# Common given names and surnames: as a one-word company name they need context
# ("Wilbur Ross said" is no Ross Stores story).
PERSON_NAMES: Final[frozenset[str]] = _wordlist(
    """
    james john robert michael william david richard joseph thomas charles christopher daniel
    matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald
    edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon
    benjamin samuel gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam
    nathan henry douglas zachary peter kyle walter ethan jeremy harold keith christian roger noah
    gerald carl terry sean austin arthur lawrence jesse dylan bryan joe jordan billy bruce albert
    willie gabriel logan alan juan wayne roy ralph randy eugene vincent russell elijah louis bobby
    philip johnny mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy
    lisa betty margaret sandra ashley kimberly emily donna michelle dorothy carol amanda melissa
    deborah stephanie rebecca sharon laura cynthia kathleen amy shirley angela helen anna brenda
    pamela nicole emma samantha katherine christine debra rachel catherine carolyn janet ruth maria
    heather diane virginia julie joyce victoria olivia kelly christina lauren joan evelyn judith
    megan cheryl andrea hannah martha jacqueline frances gloria ann teresa kathryn sara janice jean
    alice madison doris abigail julia judy grace denise amber marilyn beverly danielle theresa
    sophia marie diana brittany natalie isabella charlotte rose alexis kayla eli elon warren
    simon oliver harry leo lucas mason liam owen caleb luke isaac hunter connor cameron evan ian
    colin neil nick chris mike tom tim jim bob bill ted ed fred greg jeff ken ben dan sam max alex
    tony steve ron rick dave jon josh matt pat phil andy marc rob lars hans klaus jens sven pierre
    jean jacques francois luc andre carlos luis miguel pablo diego antonio marco giovanni luca
    paolo mario sergio hiroshi takeshi kenji akira wei ming jun yuki raj amit rahul sanjay vijay
    ravi mohammed ahmed ali omar hassan ibrahim yusuf lena nina eva ingrid anne claire sophie
    fiona abby jane kate beth jenny meg sally lucy sue tina vera wendy zoe irene sheryl satya
    sundar jensen marissa bernard howard milton lloyd norman herbert stanley lester floyd marvin
    clyde leon chester edgar vernon morris murray sidney irving harvey glenn dale curtis hal
    smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez
    gonzalez wilson anderson taylor moore jackson martin lee perez thompson white harris sanchez
    clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores
    green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans
    turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers
    gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson
    watson brooks chavez wood bennett gray mendoza ruiz hughes price alvarez castillo sanders
    patel myers long ross foster jimenez powell jenkins perry russell sullivan bell coleman butler
    henderson barnes fisher vasquez simmons romero jordan patterson alexander hamilton graham
    reynolds griffin wallace west cole hayes bryant gibson ellis stevens murray ford marshall owens
    mcdonald harrison kennedy wells freeman webb simpson stone tucker porter hunter hicks crawford
    boyd mason warren dixon burns gordon shaw holmes rice robertson black daniels palmer mills
    grant knight ferguson spencer stephens hudson lawrence franklin lincoln madison trump biden
    obama powell yellen musk buffett dimon bezos
    """
)

# Lower-case stems of words right after a company name that say "a company" in a headline:
# "Target shares", "Apple to buy", "Gap CEO", "Block posts".
COMPANY_CUES: Final[frozenset[str]] = _wordlist(
    """
    share stock stocks equiti option call put bond note debt inc corp ltd plc ceo cfo coo cto chief
    execut chairman presid founder board investor sharehold analyst earn revenu sale profit loss
    incom margin result quarter quarterly q1 q2 q3 q4 fy fiscal guidanc outlook forecast dividend
    buyback split valuat market cap ipo offer deal merger acquisit takeov bid stake unit subsidiari
    rival supplier partner employe worker staff layoff job union store custom user subscrib brand
    product servic devic platform app software chip lawsuit suit probe antitrust regul fine
    settlement rate rate downgrad upgrad target price estim beat miss expect
    report post unveil launch announc introduc releas say said tell told confirm deni warn plan
    to will would may could can is are was were has have had get got set seek sought buy bought sell
    sold acquir agre sign win won lose lost face hit jump rise rose fall fell drop slide slip slump
    sink sank soar surg climb gain rallie tumbl plung skid dip edg top trail lag lead led cut rais
    lift lower boost trim slash hike pay paid invest spend spent hire fire name appoint open close
    shut delay recal settl sue su join exit quit end start begin began add debut file ask urg reach
    strike struck ink team tap pick choos expand extend build built make made ship deliv produc
    test develop design partner collabor cancel halt paus resum suspend restart scrap drop pull
    push see saw expect predict project estim eye consid weigh explor mull prepar readi near
    complet close finish clinch secur land receiv obtain gain lose regain retain keep kept take talk
    took bring brought give gave offer spin list delist return back beat miss top
    """
)

# Words right after a one-word name that make it the ordinary thing, whatever the name's
# standing: "Amazon basin", "apple orchard", "Target price", "Shell company", "Delta variant".
NOT_A_COMPANY_NEXT: Final[frozenset[str]] = _wordlist(
    """
    basin basins river rivers rainforest rainforests forest forests jungle jungles region regions
    valley valleys delta coast coastline mountains mountain lake lakes sea ocean bay gulf desert
    island islands peninsula tribe tribes wildlife deforestation fires drought
    pie pies juice juices orchard orchards tree trees cider blossom blossoms seeds fruit fruits
    variant variants price prices party parties chain chains grant grants holder holders
    """
)

# Words right before a company name that say "a company": "rival Target", "shares of Gap".
PRE_COMPANY_CUES: Final[frozenset[str]] = _wordlist(
    """
    at vs versus rival rivals like including includ retailer retailers maker makers giant giants
    firm firms compani company group lender lenders bank banks insurer insurers carrier carriers
    airline airlines automak automaker automakers chipmak chipmaker chipmakers supplier suppliers
    owner parent backer partner partners peer peers
    """
)

# Words right after a bare symbol that make it something else ("the L train", "PATH trains").
TRANSIT_WORDS: Final[frozenset[str]] = _wordlist(
    """
    train trains line lines subway subways bus buses station stations route routes tram trams
    metro shuttle express local platform platforms tracks track service
    """
)

# Upper-case words that make a parenthesised or colon list something other than tickers
# ("(US, UK, EU)"): when half the items are these, it is no ticker list.
NON_TICKER_LIST_WORDS: Final[frozenset[str]] = _wordlist(
    """
    US USA UK EU UN UAE GB CN JP DE FR IT ES NL CH SE NO DK FI IE PL RU UA IN BR MX CA AU NZ KR TW HK SG
    USD EUR JPY GBP CNY RMB CAD AUD CHF HKD INR KRW BRL MXN SEC FDA FTC DOJ FCC EPA IRS FED ECB BOJ
    BOE IMF OPEC NATO WTO WHO CEO CFO CTO COO GDP CPI PPI PCE PMI EPS ETF ETFS IPO AI ML AR VR EV
    EVS ESG Q1 Q2 Q3 Q4 H1 H2 FY AM PM ET EST EDT PT PST PDT GMT UTC
    """
)

# Words that never name a company alone, whatever the context (they start too many names).
NEVER_ALONE: Final[frozenset[str]] = _wordlist(
    """
    general american national united first global universal international federal royal standard
    central southern northern eastern western pacific atlantic new great big old best
    """
)

# Function words of English headlines ("to", "of", "the"): title-case detection skips them.
FUNCTION_WORDS: Final[frozenset[str]] = _wordlist(
    """
    a an the and or but nor of in on at to for from by with as into onto over under after before
    amid about against between through during without within via vs per than then so if is are was
    were be been being it its this that these those up down out off new why how what when where
    who whom whose which will would can could should shall may might must do does did here there
    heres whats whys hows not no yes
    """
)


@lru_cache(maxsize=1)
def ordinary_words() -> frozenset[str]:
    """Ordinary English words (lower case), from the SCOWL list shipped in ``data/``."""
    raw = files(__package__).joinpath("data", "words.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode("ascii").split())

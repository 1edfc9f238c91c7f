"""Real modules' answers that other projects recorded, replayed against the AT driver.

Each vector names where it comes from (repository, commit, path or issue; licence).  They are
data, quoted as the modules gave them: the lines as recorded (the dumps end lines with LF only;
a module sends CR LF, which is how the replay frames them).  Where a test puts a real unsolicited
line inside a real answer (a +CIEV between a +CMGR header and its PDU line) both lines are real,
their meeting is the test's.

Sources
-------
GAMMU: gammu/gammu, commit 78fd6a9212f3271a28c46f1cb8f7c302cd43a9b0, GPL-2.0-or-later:
    tests/at-sms/*.dump, tests/at-sms-failing/*.dump ("collected from randomly available sources on
    the Internet" per their README), tests/at-ussd/*.dump, tests/at-creg*/*.dump,
    tests/at-statemachine.c (the Huawei ^NWTIME line).
MM: linux-mobile-broadband/ModemManager, commit 9a2d5863eb21957767dbc826b481080c08736590,
    GPL-2.0-or-later: src/tests/test-modem-helpers.c (+CREG/+CEREG/+C5GREG of named modules),
    src/tests/test-at-serial-port.c (final results, +CIEV/+CRING), src/plugins/huawei/tests/
    test-modem-helpers-huawei.c (^NDISSTAT).
PGSM: faucamp/python-gsmmodem, commit 834c68b1387ca2c91e2210faa8f75526b39723b5, LGPL-3.0:
    test/fakemodems.py (Wavecom, Huawei E1752), test/test_modem.py (USSD answers of South
    African and Australian networks); issue #14 (Vodacom's "Initiating Release",
    https://github.com/faucamp/python-gsmmodem/issues/14), issue #19 (Wavecom M1306: +CPIN
    without OK, https://github.com/faucamp/python-gsmmodem/issues/19).
NORDIC: NordicSemiconductor/pc-nrfconnect-linkmonitor, commit
    49fa41e0b1f251f683b2f2510f8b7434d8612620, modemtalk/__tests__/index.js (nRF91's quoted
    +CPIN: "SIM PIN", as the nRF91 AT command reference documents it); Nordic 4-clause licence:
    one line of device output is quoted, no code.
"""

from __future__ import annotations

# --- SMS in storage (+CMGR header, PDU line), GAMMU tests/at-sms*/ ------------------------------------

# tests/at-sms/39.dump: a Spanish missed-call notice; <length> 92 covers 30 bytes of the SIM record after the user data
STALE_BYTES = (
    "+CMGR: ,,92",
    "07914336120011F10404A14949000021807001253040356C76B81D268741F0B29C9C268741E4B20EB49AD16CB19BAD368BD96EA0B71B04BBBD603810284C078162315D2CE70289EBFAE1AC0CB2BFF52C10FC2D0799C3F6B71CC46687DB6550980D8AC962",  # noqa: E501 (a capture, one line as recorded)
)
# tests/at-sms/10.dump: a Belgian SMS-DELIVER with GSM-7 accents
DELIVER_BE = ("+CMGR: 0,23", "07912374151616F6040B912374786468F30000201003024550400B54C29E2E1F8300A0800B")
# tests/at-sms/30.dump: an SMS-STATUS-REPORT kept in storage
STATUS_REPORT = ("+CMGR: 1,,25", "079124603050020006E80C91666666666666909070618422809090706184628000")
# tests/at-sms/02.dump: an SMS-SUBMIT stored on the SIM (an outgoing message)
STORED_SUBMIT = ("+CMGR: 3,,29", "0791361907001003B17A0C913619397750320000AD11CD701E340FB3C3F23CC81D0689C3BF")
# tests/at-sms-failing/01.dump: user data cut short
TRUNCATED = (
    "+CMGR: 1,,78",
    "0791246030500200110481643000007030427132500047D6B0BEECCE83F4E17558EF4EAFEB2CD09C5DD78BC3207519447E8FC3737719D44EB7DF20B8FC6D7FEB5D2062795D5797DB65903E0C82BFC7E837BCEC4EBB00",  # noqa: E501 (a capture, one line as recorded)
)
# tests/at-sms-failing/13.dump: a PDU line that is not hexadecimal
NOT_HEX = (
    "+CMGR: 2,,164",
    "0BD04259303784=96p331p71160016D02B5AEC86BBDD6E37D80DFF00F19C0AC8F7BA3E87BFD7F539FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF12",  # noqa: E501 (a capture, one line as recorded)
)
# tests/at-sms-failing/18.dump: ends inside an address
SHORT_ADDRESS = ("+CMGR: 2,,164", "0CD0ABD9CC86CBC16034180C1616000AD0D770BB5D0700F9FF080074006500730074")
# tests/at-sms-failing/38.dump: no decodable service centre address
NO_SMSC_GARBAGE = (
    "+CMGR: 3,,29",
    "C474795E968388E9B27B4E07CDE965341D947683926879B90DA286E56933C89D1EA3E9207D5D0EB296E566FFB9EE3EBB40A8220C9602",
)
# tests/at-sms-failing/39.dump: seven bytes
SEVEN_BYTES = ("+CMGR: 3,,29", "91947122982661")
# tests/at-sms-failing/40.dump: a user data header longer than the user data (a WAP push)
HEADER_TOO_LONG = (
    "+CMGR: 3,,29",
    "0906346170706C69636174696F6E2F766E642E7761702E6D6D732D6D65737361676500B13139322E3136382E3233382E313900AF84B4818C829843326357556B543859534777476B566741416B4175793379654B4141414141414141008D908918802B34383732363631353235332F545950453D504C4D4E00960AEA4453433030323234008A808E0231788805810303F48083687474703A2F2F6D6D733272783A383030322F6357556B543859534777476B566741416B4175793379654B414141414141414100",  # noqa: E501 (a capture, one line as recorded)
)
UNDECODABLE = [TRUNCATED, NOT_HEX, SHORT_ADDRESS, NO_SMSC_GARBAGE, SEVEN_BYTES, HEADER_TOO_LONG]

# --- unsolicited lines that modules print on their own ---------------------------------------------
CIEV = "+CIEV: 7,1"  # MM test-at-serial-port.c parse_ok_tests (an indicator after OK)
CRING = "+CRING: VOICE"  # ibid.
CLIP = '+CLIP: "+0123456789",145,,,,0'  # ibid.
NWTIME = "^NWTIME: 18/03/09,12:36:21+4,00"  # GAMMU tests/at-statemachine.c (Huawei network time)
NDISSTAT = "^NDISSTAT: 1,,,IPV4"  # MM huawei/tests/test-modem-helpers-huawei.c
UNSOLICITED = [CIEV, CRING, CLIP, NWTIME, NDISSTAT]

# --- final results --------------------------------------------------------------------------------
MODEM_ERROR = "MODEM ERROR: 5"  # MM test-at-serial-port.c parse_error_tests (Motorola EZX)
COMMAND_NOT_SUPPORT = "COMMAND NOT SUPPORT"  # PGSM fakemodems.py HuaweiE1752, AT+WIND? ; GAMMU atgen.c (E220)
NO_CARRIER = "NO CARRIER"  # MM test-at-serial-port.c
CME_TEXT = "+CME ERROR: raspberry"  # MM test-at-serial-port.c: a verbose error of no known text
CMS_EMPTY = "+CMS ERROR: "  # ibid.: an error with nothing after the colon

# --- registration (+CREG/+CEREG/+C5GREG lines) --------------------------------------------------------
# (line, its <stat>), MM test-modem-helpers.c unless said otherwise
REGISTRATION = [
    ('+CREG: 2,6,"8B37","0A265185",7', 6),  # u-blox TOBY-L2 answering AT+CREG? on LTE: "SMS only"
    ('+CREG: 6,"8B37","0A265185",7', 6),  # the same, unsolicited
    ('+CREG: 2,5,"0502","0404736D"', 5),  # Sony-Ericsson MD400, unsolicited, repeating <n>
    ("+CEREG: 1, 2, 0001, 00000100, 7", 2),  # Altair LTE, unsolicited with <n> and spaces
    ("+CEREG: 2, 0001, 00000100, 7", 2),  # Altair LTE, unsolicited
    ('+CEREG: 2,10,"8d83","671f98a",7', 10),  # "CSFB not preferred", roaming
    ("+CEREG: 2,1, 1F00, 20 ,79D903 ,7", 1),  # Novatel E362
    ("+CEREG: 1, 1F00, 20 ,79D903 ,7", 1),  # ibid., unsolicited
    ("+CREG: 2,1,000B,2816, B, C2816", 1),  # Samsung Wave S8500
    ("+CREG: 2,1,  0 5, 2715", 1),  # Qualcomm Gobi 1000
    ('+CREG:002,001,"18d8","ffff"', 1),  # Iridium: leading zeros, no space
    ("+CREG: 1,0001,0010,0", 1),  # unsolicited, unquoted, no leading zeros
    ("+CREG: 10,0001,0010,0", 10),
    ("+CGREG:2,10,ebbd,f025", 10),
    ("+C5GREG: 1, 10", 10),
    ("+C5GREG: 2,1,1F00,79D903,11,6,ABCDEF", 1),
    ("+C5GREG: 1,1F00,79D903,11,6,ABCDEF", 1),
    ("+CREG: 2,,", 2),  # Novatel XU870, unsolicited, searching
    ("+CREG: 2,0,00,0", 0),  # Huawei E160G, not registered
    ('+CREG: 2,5,"2AF5","0B88E350",2', 5),  # GAMMU tests/at-creg/sierra312u.dump
    ('+CREG: 2,1,"0B,"0100701",7', 1),  # GAMMU tests/at-creg-corner/mismatched-quotes.dump
    ("+CREG: 2,1,4CA,81DE445", 1),  # GAMMU tests/at-creg/huawei.dump
]

# --- SIM PIN ---------------------------------------------------------------------------------------
WAVECOM_CPIN = "+CPIN: READY"  # PGSM fakemodems.py WavecomMultiband900E1800 / issue #19: no OK follows
WAVECOM_CGSN = "111111111111111"  # PGSM fakemodems.py WavecomMultiband900E1800 AT+CGSN
QUOTED_PIN = '+CPIN: "SIM PIN"'  # NORDIC nRF91

# --- USSD (+CUSD lines) -------------------------------------------------------------------------------

# GAMMU tests/at-ussd/01-E160.dump
E160_BARE = (
    "+CUSD: 0, 49B41C74ACD3D16171D90D66666666666666666666B45CAC76C3CD6CB41B2D060389CB74F9FE4C07DD5CB91AA85897BF1B"
)
# GAMMU tests/at-ussd/02-E160.dump
E160_PACKED = (
    '+CUSD: 0,"49B41C74ACD3D16171D90D32FBE52072BA0C72CA5DB45CAC76C3CD6CB41B2D060389CB74F9FE4C07D55C371CA85897BF1B",15'
)
# GAMMU tests/at-ussd/03-unknown.dump
GSM_CHARSET = '+CUSD: 1,"Kontostand: 3.00 EUR Bitte w{hlen Sie: 1 Konto aufladen 2 CallNow Transfer"'
# GAMMU tests/at-ussd/Uissue358-Quectel_M35.dump
QUECTEL_M35_UCS2 = '+CUSD: 2,"00480061007600690020006B0065007200650074003A0020003000460074002E002000460065006C007400F6006C007400F60074007400200065006700790065006E006C00650067003A0020003700370037003700460074002C002800650062006200F6006C0020007600E0007300E00072006C00E000730072006100200069007300200066006F0072006400EC007400680061007400F2003A00200037003700370037004600740029002E0020004400EC006A00630073006F006D00610067003A002000420065006E0063007300F200200041002E00200055006A002000540065006C0065006B006F006D002000F6006E006B00690073007A006F006C006700E0006C00F2003A0020002A0031003100310023",15'  # noqa: E501 (a capture, one line as recorded)
# GAMMU tests/at-ussd/issue109-E3276.dump
E3276_UCS2 = '+CUSD: 0,"0414043B044F00200441043F044004300432043A04380020043E002004310430043B0430043D044104350020043D04300431043504400438044204350020002A0031003000350023002E002004230441043B0443043304300020043104350441043F043B04300442043D0430002E",72'  # noqa: E501 (a capture, one line as recorded)
# GAMMU tests/at-ussd/issue377-HE910-D.dump
HE910_LANGUAGE = '+CUSD: 2,"613906310635064A062F06430020003100300037002E003900330020062F002E0644060C06270644063506440627062D064A0629002000200032003000310038002D00310031002D003000390000FFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF60B16260EEEEFFFF00A962600000000000000000EE000000000000000000000068B5626058655F60",17'  # noqa: E501 (a capture, one line as recorded)
# GAMMU tests/at-ussd/issue178-dell.dump
DELL_TEXT = (
    '+CUSD: 0,"On DATA Pack u have 3Gb 817Mb 169kb valid until 21/05/2016   upto time of data recharge done by u.",15'
)
# PGSM test/test_modem.py: a menu with line breaks inside the string (an Australian network)
MENU = (
    '+CUSD: 1,"Bal:$100.00 *\r\nExp 01 Jan 2013\r\n1. Recharge\r\n2. Balance\r\n3. My Offer\r\n'
    "4. PlusPacks\r\n5. Tones&Extras\r\n6. History\r\n7. CredMe2U\r\n8. Hlp\r\n00. Home\r\n"
    '*charges can take 48hrs",15'
)
# PGSM issue #14 (Vodacom, South Africa): a release notice, then the answer
RELEASE_NOTICE = '+CUSD: 2,"Initiating Release",15'
VODACOM_BALANCE = '+CUSD: 0,"Your balance is R49.96. Out of Airtime? Dial *111# for Airtime Advance. T&Cs apply.\n",15'
# PGSM test/test_modem.py: another client answered first, then the answer
OTHER_CLIENT = '+CUSD: 3,"Other local client responded",15'
# PGSM test/test_modem.py: a balance code's answer
AVAILABLE_BALANCE = '+CUSD: 0,"Available Balance: R 96.45 .",15'

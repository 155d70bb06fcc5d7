"""What the diagnostic text of a failure says: phrase families that MTAs use for a condition.

Each family names a reason (one of ``REASONS``) and who the failure is about (the *fault*:
``recipient``, ``sender``, ``message``, ``transport``). Families come in tiers:

* **conditions** (:data:`CONDITIONS`) state what is wrong and with whom ("user unknown",
  "sender domain does not exist", "IP address blacklisted", "mailbox full", "relay access
  denied", "retry timeout exceeded", "rejected for policy reasons");
* **circumstances** (:data:`CIRCUMSTANCES`) say what happened on the way (a refused
  connection, a DNS or system error, TLS, protocol syntax); they count only when no
  condition is named;
* **vague** phrases (:data:`VAGUE`) only hint ("mailbox unavailable" is the RFC 5321 wording
  of any 550, "rejected", "denied", a bare "blocked").

Within a tier the phrase that comes first in the text wins (a reply states its reason first,
advice follows); on the same spot the family listed first does. Phrases that name *who* come
before the conditions they contain ("sender domain not found" is about our sender, not a
missing recipient domain; "the recipient account is blocked" is a disabled mailbox, not a
blocklist). A recipient phrase that is hedged ("the mailbox may not exist") does not count.

Matching is done on lower-cased text (:func:`scan` lowers it once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shopmail.domain.feedback.literals import AnyOf
from shopmail.domain.feedback.model import Fault
from shopmail.domain.feedback.statuses import MESSAGE, RECIPIENT, SENDER, TRANSPORT, UNKNOWN

MAX_SCAN: Final = 4000


@dataclass(frozen=True, slots=True)
class Family:
    """A phrase family: the reason it names, whose fault it is, and its patterns.

    ``retried`` marks conditions that MTAs retry (a connection that fails, a busy system):
    reported as a final failure, they mean the MTA gave up (``expired``).
    """

    reason: str
    fault: Fault
    pattern: AnyOf
    retried: bool = False


def _family(reason: str, fault: Fault, *parts: str, retried: bool = False) -> Family:
    return Family(reason, fault, AnyOf(*parts), retried)


SENDER_ADDRESS: Final = _family(
    "policy",
    SENDER,
    r"sender (?:address|domain|e-?mail|mail ?domain)? ?(?:address )?(?:is )?"
    r"(?:rejected|refused|denied|invalid|unknown|not (?:found|allowed|valid|verified|resolv)"
    r"|does ?n[o']t exist|must (?:exist|resolve))",
    r"(?:domain|address) of (?:the )?sender",
    r"sender (?:verif|check|callout)",
    r"badmailfrom",
    r"envelope sender is (?:in|on|not)",
    r"sender(?:'s)? (?:address|domain|mail domain) (?:has|with|without|lacks)",
    r"(?:unknown|invalid|bad|unverified|unroutable|unresolvable) sender",
    r"sender (?:mx|dns|hostname|host name) ",
    r"(?:envelope|mail) (?:sender|from) (?:address |domain )?(?:is |was )?"
    r"(?:rejected|refused|denied|invalid|unknown|not)",
    r"from (?:address|domain) (?:is |was )?(?:rejected|refused|denied|invalid|unknown|not)",
    r"(?:your|the sender'?s?) (?:e-?mail )?(?:address|domain) (?:is |was |has been )?"
    r"(?:rejected|refused|invalid|unknown|not (?:allowed|accepted|valid))",
    r"return[- ]path (?:is )?(?:rejected|refused|invalid|unknown|not)",
    r"domain (?:in|of) (?:the )?(?:mail from|envelope|from header|return)",
    r"absender(?:adresse|domain)? (?:ist )?(?:ung\u00fcltig|unbekannt|abgelehnt)",
)
VIRUS: Final = _family(
    "virus_detected",
    MESSAGE,
    r"\bvirus",
    r"malware",
    r"\binfected\b",
    r"trojan",
    r"\bworm\b",
    r"virengepr",
    r"\beicar\b",
)
MAILBOX_DISABLED: Final = _family(
    "mailbox_disabled",
    RECIPIENT,
    r"(?<!your )(?<!sender )(?<!sender's )"
    r"(?:recipient'?s?|user'?s?|account|mailbox|e-?mail address)(?: account| mailbox)?"
    r"(?: <?[^\s<>@]+@[^\s<>]+?>?)? "
    r"(?:has been |is |was )?(?:currently )?(?:temporar(?:il)?y )?(?:disabled|deactivated|suspended"
    r"|locked|blocked|inactive|frozen|closed|terminated|cancell?ed|not active|no longer active)",
    r"(?:disabled|inactive|suspended|deactivated|closed|expired|locked) "
    r"(?:account|mailbox|user|recipient|e-?mail account)",
    r"(?<!your )(?<!sender )account (?:has been |is )?(?:closed|expired|locked|terminated"
    r"|cancell?ed|disabled)",
    r"mailbox (?:is )?(?:disabled|inactive|not active|unused)",
    r"not an? active (?:address|account|mailbox|user|e-?mail)",
    r"no longer (?:active|valid|available|in use|exists?|accepts? (?:mail|messages)|employed"
    r"|with (?:the|this|our) (?:company|organi[sz]ation))",
    r"postfach (?:ist )?(?:gesperrt|deaktiviert|inaktiv)",
    r"konto (?:ist )?(?:gesperrt|deaktiviert)",
    r"compte (?:\S+ )?(?:d\u00e9sactiv\u00e9|desactive|suspendu|bloqu\u00e9|bloque|ferm\u00e9)",
    r"(?:account|cuenta|conta|casella|buz\u00f3n|konto|postbus) (?:\S+ )?(?:disattivat[oa]"
    r"|disabilitat[oa]|sospes[oa]|bloccat[oa]|desactivad[oa]|deshabilitad[oa]|suspendid[oa]"
    r"|bloquead[oa]|desativad[oa]|suspens[oa]|geblokkeerd|gedeactiveerd|opgeheven"
    r"|zablokowane|nieaktywne|zawieszone|wy\u0142\u0105czone)",
)
BLOCKED: Final = _family(
    "blocked",
    SENDER,
    r"black ?list",
    r"block ?list(?:ed)?",
    r"deny ?list",
    r"spamhaus",
    r"spamcop",
    r"\bsorbs\b",
    r"\b(?:rbl|dnsbl|dnsrbl|uribl|surbl|rhsbl)\b",
    r"reputation",
    r"\bptr\b",
    r"reverse (?:dns|lookup|hostname|address|name)",
    r"\brdns\b",
    r"no (?:reverse|ptr)",
    r"(?:ip|client|host)(?: ?name)? lookup failed",
    r"unresolvable (?:ip|host|address|client)",
    r"(?:cannot|can't|could not|unable to) (?:find|resolve|verify) (?:your )?(?:host ?name|reverse"
    r"|ip|address|client)",
    r"(?:helo|ehlo|host ?name|client name) (?:\S+ )?(?:does ?n[o']t|did ?n[o']t|not) (?:match"
    r"|resolve|exist)",
    r"\bip(?: address)?\b.{0,40}not (?:authori[sz]ed|allowed|permitted) to send",
    r"(?:not accepted|refused|rejected) from (?:this|your) (?:ip|host|server|network)",
    r"messages from \S+ (?:(?:are|were|will be|have been) )?(?:temporarily |permanently )?"
    r"(?:deferred|rejected|refused|blocked)",
    r"(?:user|spam|abuse) complaints",
    r"(?:is|as|being) an? (?:open|insecure) (?:relay|proxy)",
    r"(?:use|through|via) (?:the |your )?(?:isp|provider)'?s? (?:own )?"
    r"(?:smtp|mail|relay|outgoing)",
    r"(?:smtp|mail|outgoing|relay) (?:server|relay|host) of your (?:isp|provider"
    r"|internet service provider)",
    r"(?:mismatch(?:es|ed)?|(?:does|do|did) ?n[o']t match) (?:the |your )?(?:client|connecting"
    r"|sending|source|remote) ip",
    r"client host (?:\[[^\]]*\] )?(?:rejected|blocked)",
    r"blocked using",
    r"(?<!not )listed (?:at|on|in|by) (?!the (?:domino|directory))",
    r"(?:ip|host|server|network|domain|sender|connection|mta|client) (?:(?!not )\S+ )?"
    r"(?:is |has been |was |are )?(?:currently )?(?:temporarily )?"
    r"(?:blocked|banned|blacklisted|blocklisted|not allowed to send)",
    r"(?:poor|bad|low) (?:sender |ip |domain )?(?:reputation|score)",
    r"messages from \S+ (?:weren't|were not|are not|aren't) (?:sent|accepted)",
    r"connection (?:refused|rejected|denied) (?:from|by policy|due)",
    r"not accept(?:ing)? (?:mail|e-?mail|messages|connections) from",
    r"banned sending",
    r"\bdynamic (?:ip|address|pool)",
    r"dial-?up",
    r"residential",
    r"helo (?:name |host )?(?:rejected|refused|invalid|not)",
    r"my name was rejected",
    r"(?:fix|check) (?:your )?(?:reverse|ptr|dns)",
)
AUTH: Final = _family(
    "auth_failure",
    SENDER,
    r"\bspf\b",
    r"\bdkim\b",
    r"\bdmarc\b",
    r"\barc (?:validation|check)",
    r"sender policy framework",
    r"not authori[sz]ed to send",
    r"unauthenticated (?:e-?mail|mail|sender|message)",
    r"authentication (?:is )?(?:required|failed|failure)",
    r"failed authentication",
    r"authentication (?:information|checks?)",
    r"(?:fails?|failed|does ?n[o']t|did ?n[o']t) (?:to )?pass (?:\S+ )?authentication",
    r"(?:smtp )?auth(?:entication)? (?:credentials|mechanism)",
    r"must (?:be )?authenticate",
)
RELAY: Final = _family(
    "relay_denied",
    SENDER,
    r"relay(?:ing)? (?:access )?(?:is )?(?:denied|not (?:allowed|permitted|authori[sz]ed)"
    r"|prohibited|refused|rejected)",
    r"not (?:permitted|allowed|authori[sz]ed|configured|able) to relay",
    r"unable to relay",
    r"(?:we|i) do not relay",
    r"no relaying",
    r"cannot relay",
    r"can't relay",
    r"not a gateway",
    r"relay access",
    r"as a relay",
    r"open relay",
    r"rcpthosts",
    r"relay not allowed",
    r"relaying to <[^>]*> (?:denied|prohibited)",
)
RATE: Final = _family(
    "rate_limited",
    SENDER,
    r"rate[- ]?limit",
    r"rate[- ]limited",
    r"too many (?:connections|messages|recipients|mails|concurrent|e-?mails|sessions|errors"
    r"|invalid|bad|smtp|simultaneous|hosts|requests)",
    r"(?:sent|sending) (?:to )?too many",
    r"too (?:fast|quickly|frequent)",
    r"frequency (?:limit|exceed|too high)",
    r"throttl",
    r"exceeded (?:the )?(?:message |sending |connection |hourly |daily )?(?:rate|limit of)",
    r"(?:sending|message|connection|recipient) rate",
    r"(?:sending|hourly|daily|recipient) (?:quota|limit)",
    r"greylist",
    r"graylist",
    r"try (?:again )?later.{0,40}(?:too many|rate)",
    r"(?:mail|message) flood",
    r"too much (?:mail|traffic)",
    r"unexpected volume",
    r"(?:receiving|sending) (?:mail|messages|e-?mails?) (?:at a rate|too (?:fast|quickly))",
)
SPAM: Final = _family(
    "spam_detected",
    MESSAGE,
    r"spam",
    r"mass mail",
    r"unsolicited",
    r"bulk (?:e-?)?mail",
    r"looks like (?:spam|junk)",
    r"scored? (?:too high|higher|of \d)",
    r"high (?:spam )?probability",
    r"\bubc?e\b",
    r"\buce\b",
    r"phish",
    r"fraud",
    r"\bscam\b",
)
MAILBOX_FULL: Final = _family(
    "mailbox_full",
    RECIPIENT,
    r"mail ?box (?:is )?(?:currently )?full",
    r"mailbox (?:has )?exceeded",
    r"mail ?folder is full",
    r"over ?quota",
    r"quota (?:exceeded|exceed|full|violation|reached)",
    r"exceeded? (?:his|her|their|its|the|my|your)? ?(?:storage|quota|mailbox|disk)",
    r"exceeds? (?:the )?(?:storage|disk|mailbox|quota)",
    r"disk quota",
    r"storage (?:allocation|limit|quota|space)",
    r"mailbox size limit",
    r"error writing message: file too large",  # the mailbox file reached its size limit
    r"(?:mailbox|account|inbox|user)(?:'s)? (?:is )?(?:over|full)",
    r"too many messages (?:in|on|stored)",
    r"full mailbox",
    r"mailbox_full",
    r"mail ?box (?:size )?exceeds",
    r"mailbox (?:size )?limit",
    r"postfach (?:des empf\u00e4ngers )?(?:ist )?(?:voll|\u00fcberf\u00fcllt)",
    r"postfach .{0,40}(?:voll|\u00fcberf\u00fcllt|\u00fcberschritten)",
    r"speicher(?:platz|grenze|kapazit\u00e4t) .{0,30}(?:ersch\u00f6pft|\u00fcberschritten)",
    r"mailbox voll",
    r"(?:bo\u00eete|boite)(?: aux lettres| mail)? (?:est )?pleine",
    r"quota (?:d\u00e9pass\u00e9|depasse|superato|excedido|excedida|overschreden)",
    r"casella (?:\S+ )?piena",
    r"buz\u00f3n (?:\S+ )?(?:lleno|completo)",
    r"caixa (?:postal )?(?:\S+ )?(?:cheia|lotada)",
    r"(?:mailbox|postbus) (?:is )?vol\b",
    r"skrzynka (?:\S+ )?(?:pe\u0142na|przepe\u0142niona)",
    r"ящик (?:\S+ )?переполнен",
    r"サイズ.{0,6}(?:大き|超過|制限)",
    r"zu ?viele (?:mails|nachrichten)",
    r"メールボックス.{0,6}(?:一杯|いっぱい|容量)",
    r"容量(?:超過|オーバー|が一杯|を超え)",
    r"\bquota\b",
)
TOO_LARGE: Final = _family(
    "message_too_large",
    MESSAGE,
    r"message (?:is )?too (?:large|big|long)",
    r"too (?:large|big)",
    r"message (?:size|length) (?:exceeds|limit|too)",
    r"size (?:limit|exceeds?)",
    r"exceeds? (?:the )?(?:maximum|max|fixed|size|allowed|permitted)",
    r"message exceeds",
    r"(?:maximum|max) (?:message )?size",
    r"zu gro(?:\u00df|ss)",
    # the message's size, in the shop languages (a mailbox's size is a full mailbox)
    r"trop (?:volumineux|gros|grand)",
    r"message(?: \S+){0,4} taille (?:maximale|limite)",
    r"troppo grande",
    r"messaggio(?: \S+){0,4} dimensione massima",
    r"demasiado grande",
    r"mensaje(?: \S+){0,4} tama\u00f1o m\u00e1ximo",
    r"te groot",
    r"bericht(?: \S+){0,4} maximale (?:grootte|omvang)",
    r"za du\u017c[ya]",
    r"wiadomo\u015b\u0107(?: \S+){0,4} (?:maksymalny|dopuszczalny) rozmiar",
)
CONTENT: Final = _family(
    "content_rejected",
    MESSAGE,
    r"attachment",
    r"embedded image",
    r"message content",
    r"content (?:rejected|not accepted|policy|filter|violat|restriction)",
    r"rejected by (?:the )?(?:recipient'?s? )?(?:content|filter)",
    r"(?:prohibited|forbidden|disallowed|banned|blocked) (?:file|extension|content|attachment)",
    r"not accept(?:ing)? (?:mail|messages|e-?mail) with",
    r"(?:invalid|malformed|unsupported|broken|bad) mime",
    r"mime (?:type|structure|boundary|part|header)s? (?:is )?(?:invalid|malformed|not)",
    r"file ?(?:type|name|extension)",
    r"not (?:rfc|standards?)[ -]?(?:\d+ )?complian",
    r"(?:violates?|violation of|comply with|conform to) (?:rfc|the standard)",
    r"\brfc ?(?:5322|2822|822|5321|2045|2046)\b(?! ?;)",
    r"(?:header|headers|message-id|from:|date:)(?: field)? (?:is |are )?"
    r"(?:missing|invalid|malformed|duplicated|too long)",
    r"(?:missing|invalid|malformed|duplicate|multiple) (?:\S+ )?(?:headers?|message-id)\b",
    r"multiple .{0,30}addresses in (?:the )?from",
    r"bare (?:lf|cr|linefeed|newline)",
    r"8-?bit (?:data|characters)",
    r"line (?:is )?too long",
)
USER_UNKNOWN: Final = _family(
    "user_unknown",
    RECIPIENT,
    # the recipient address itself is refused (Postfix access maps, Exchange Online's
    # directory-based edge blocking): whatever "access denied" says, it is said of the address
    r"recipient address rejected: (?:access denied|user unknown|undeliverable address"
    r"|invalid user|user does not exist)",
    r"\buser(?:name)? (?:is )?unknown\b",
    # ... but not "Unknown address error": a label some MTAs print for any x.1.0 status
    r"\bunknown (?:local )?(?:user|recipient|local[- ]part|mailbox|account|alias|e-?mail address"
    r"|addressee|address)\b(?! error)",
    r"no such (?:user|mailbox|recipient|address|account|person|local user|list)\b",
    r"no mail ?box here",
    r"no (?:such )?mail ?box (?:by that name|for|with|found|exists)",
    r"(?:recipient|user|mailbox|address|account|addressee|e-?mail|person|alias|local part)"
    r"(?: \S+){0,2} (?:was |is )?(?:not found|not known|unknown|does ?n[o']t exist|not exist"
    r"|not listed|not recogni[sz]ed|not valid|invalid|not registered|deleted|removed)",
    r"does ?n[o']t (?:exist|have an? (?:\S+ )?(?:account|mailbox))",
    r"(?:not|isn't) (?:a )?(?:known|valid|registered|existing) (?:user|recipient|mailbox"
    r"|address|e-?mail|account)",
    r"invalid (?:recipient|user|mailbox|destination|e-?mail address|address)",
    r"user not (?:found|known|listed|here|local)",
    r"not (?:a )?local (?:user|recipient|mailbox)",
    r"not our (?:customer|user)",
    r"bad destination (?:mailbox|address)",
    r"badrcptto",
    r"unrouteable address",
    r"recip(?:ient)?notfound",
    r"nosuchuser",
    r"wasn'?t found at",
    r"(?:address|recipient|user|mailbox|account)(?: \S+){0,4} (?:couldn'?t|could not|can ?not)"
    r" be found",
    r"not listed in (?:the )?(?:domino |public |global )?(?:directory|address book|names)",
    r"does not have a final (?:e-?mail )?delivery point",
    r"addressee unknown",
    r"not present in (?:the )?directory",
    r"(?:can't|cannot|can not) accept (?:mail for )?(?:this |that )?user",
    r"destination address(?:es)? (?:were|was|is|are) unknown",
    r"no (?:account|mailbox|address|user) (?:registered|by that name|found)",
    r"invalid mailbox path",
    r"no mail ?box available",
    r"bad[_ ]recipient",
    r"(?:user|mailbox|account|address|recipient) (?:has )?(?:been )?moved",
    r"no forwarding address",
    r"unknown or illegal alias",
    r"n'existe pas",
    r"nie istnieje",
    r"(?:benutzer|empf\u00e4nger|adresse|postfach)(?: \S+){0,2} (?:ist )?(?:unbekannt|existiert "
    r"nicht|nicht gefunden|gibt es nicht)",
    r"unbekannte?r? (?:empf\u00e4nger|benutzer|adresse)",
    r"existiert nicht",
    r"(?:utilisateur|destinataire|adresse|bo\u00eete|boite)(?: \S+){0,2} (?:inconnu|invalide"
    r"|inexistant)",
    r"(?:utente|destinatario|indirizzo) (?:\S+ )?(?:sconosciuto|inesistente|non esiste)",
    r"(?:usuario|destinatario|direcci\u00f3n|buz\u00f3n|casilla|cuenta) (?:\S+ )?(?:desconocid[oa]"
    r"|inexistente|no existe)",
    r"(?:usu\u00e1rio|destinat\u00e1rio|endere\u00e7o) (?:\S+ )?(?:desconhecido|inexistente"
    r"|n\u00e3o existe)",
    r"(?:onbekende|ongeldige) (?:gebruiker|ontvanger|geadresseerde)",
    r"(?:adres|gebruiker|ontvanger|mailbox|postbus)(?: \S+){0,2} (?:bestaat niet|is onbekend)",
    r"(?:u\u017cytkownik|adres|odbiorca) (?:\S+ )?nie istnieje",
    r"(?:пользователь|адрес|ящик)"
    r"(?: \S+){0,2} не (?:найден|существует)",
    r"нет такого (?:пользователя|ящика)",
    r"(?:宛先|アドレス|ユーザ).{0,6}(?:存在しません|見つかりません|不明)",
    r"存在しない(?:ユーザ|アドレス|宛先)",
    r"gibt es nicht",
)
HOST_UNKNOWN: Final = _family(
    "host_unknown",
    RECIPIENT,
    r"host (?:or domain name )?(?:not found|unknown)",
    r"unknown host",
    r"(?:domain|host) (?:name )?(?:\S+ )?(?:not found|does ?n[o']t exist|not exist|unknown"
    r"|is not valid|invalid|not registered|could not be found)",
    r"no such (?:domain|host)",
    r"unknown (?:mail )?domain",
    r"unrouteable (?:mail )?domain",
    r"\bnxdomain\b",
    r"null mx",
    r"no mx",
    r"(?:no|without) (?:valid )?(?:mx|mail exchanger)",
    r"mx (?:record|lookup)",
    r"unable to route",
    r"name or service not known",
    r"(?:couldn'?t|could not|can'?t|cannot|unable to) find (?:any )?(?:host|domain|mx|mail server)",
    r"non-?existent (?:host|domain)",
    r"host name lookup failure",
    r"does ?n[o']t (?:accept|receive) (?:any )?(?:e-?)?mail",
    r"domain .{0,40}(?:does not exist|not found|existiert nicht)",
)
SYSTEM_FULL: Final = _family(
    "system",
    TRANSPORT,
    r"insufficient (?:system |disk )?(?:space|storage)",
    r"not enough (?:system |disk )?(?:space|storage)",
    r"out of (?:disk )?space",
    r"(?:disk|file ?system|spool|partition) (?:is )?full",
    r"mail system (?:is )?full",
)
EXPIRED: Final = _family(
    "expired",
    TRANSPORT,
    r"expired",
    r"retry (?:time|timeout|period) (?:exceeded|expired|reached)",
    r"delivery time",
    r"could not be delivered (?:with)?in",
    r"in the queue too long",
    r"queue too long",
    r"gave up",
    r"giving up",
    r"failed \d+ (?:delivery )?attempts",
    r"after (?:multiple|several|repeated|\d+) (?:retries|attempts|tries)",
    r"time limit",
    r"has not been delivered .{0,40}(?:for|within)",
    r"could not (?:be )?deliver(?:ed)? for",
    r"(?:not|n't) (?:been )?delivered (?:with)?in",
    r"deleted from (?:the )?queue",
    r"failing for (?:a long time|\d+ (?:hours|days))",
    r"(?:aborted|abandoned|cancell?ed) after \d",
)
TLS: Final = _family(
    "policy",
    TRANSPORT,
    r"starttls",
    r"\btls\b",
    r"\bssl\b",
    r"encrypt(?:ion|ed)",
    r"certificate",
)
CONNECTION: Final = _family(
    "network",
    TRANSPORT,
    r"connection (?:refused|timed out|reset|closed|lost|failed|dropped|died)",
    r"timed out",
    r"time(?:d)?-?out",
    r"network (?:error|unreachable|is unreachable|failure)",
    r"unreachable",
    r"no route to",
    r"host not reached",
    r"lost connection",
    r"can(?:'t|not) connect",
    r"could not connect",
    r"unable to connect",
    r"(?:did not|didn't) accept our requests to connect",
    r"connect to .{0,80} failed",
    r"(?:is )?not responding",
    r"establish (?:an )?(?:smtp )?connection",
    r"(?:read|write) error",
    r"(?:connection|session) (?:was )?(?:closed|dropped|terminated) (?:by|unexpectedly)",
    retried=True,
)
DNS_OR_ROUTING: Final = _family(
    "network",
    TRANSPORT,
    r"(?:dns|lookup|name server|nameserver|resolver) (?:\S+ )?(?:error|failure|failed|timeout"
    r"|problem)",
    r"temporary (?:dns|lookup|name)",
    r"(?:malformed|unexpected|bad|invalid) (?:\S+ )?name ?server reply",
    r"name ?server (?:failure|error|reply)",
    r"servfail",
    r"(?:mail )?loop",
    r"too many hops",
    r"hop count",
    r"routing",
)
SYSTEM: Final = _family(
    "system",
    TRANSPORT,
    r"system (?:error|failure|problem)",
    r"local (?:error|problem|configuration)",
    r"internal (?:server )?error",
    r"server error",
    r"i/o error",
    r"out of memory",
    r"insufficient (?:system )?resources",
    r"mis-?configur",
    r"command died",
    r"\bpipe to \|",
    r"(?:exit|return(?:ed)?) (?:code|status) \d",
    r"no such file or directory",
    r"(?:ldap|database|directory) (?:server|lookup)",
    r"mailbox (?:is )?(?:busy|locked|temporarily)",
    retried=True,
)
SYNTAX: Final = _family(
    "syntax",
    SENDER,
    r"syntax",
    r"malformed (?:address|command|recipient)",
    r"illegal (?:address|character)",
    r"bad address",
    r"invalid (?:address )?format",
    r"command (?:not )?(?:unrecogni[sz]ed|not implemented)",
    r"bad sequence of commands",
)

POLICY: Final = _family(
    "policy",
    UNKNOWN,
    r"(?:for|due to|because of|by|violat\w*|against) (?:local |security |our |the |site )?"
    r"(?:polic(?:y|ies))",
    r"polic(?:y|ies) (?:violation|reasons|restrictions?)",
    r"administrative(?:ly)? prohibit",
    r"(?:recipient|user) (?:rejects|refuses|does not accept) (?:mail|messages|e-?mail) from",
    r"受信拒否",
)

#: Explicit phrases that name a condition of the recipient, of us or of the message; where
#: several occur, the one that comes first in the text wins (a reply states its reason
#: first, advice follows), and on the same spot this order decides.
CONDITIONS: Final[tuple[Family, ...]] = (
    SENDER_ADDRESS,
    VIRUS,
    MAILBOX_DISABLED,
    BLOCKED,
    AUTH,
    RELAY,
    RATE,
    SPAM,
    SYSTEM_FULL,
    MAILBOX_FULL,
    TOO_LARGE,
    CONTENT,
    USER_UNKNOWN,
    HOST_UNKNOWN,
    EXPIRED,
    POLICY,
)
#: Explicit phrases about the circumstances (TLS, connections, DNS, systems, protocol): they
#: count only when no condition is named ("Service unavailable; client host blocked using
#: ..." is a blocklist refusal).
CIRCUMSTANCES: Final[tuple[Family, ...]] = (
    TLS,
    CONNECTION,
    DNS_OR_ROUTING,
    SYSTEM,
    SYNTAX,
)
EXPLICIT: Final = (CONDITIONS, CIRCUMSTANCES)

#: Vague phrases: used only when no explicit phrase and no specific status code is there.
#: A refusal of the message or of us, or a mailbox that is "unavailable", before words that
#: only say "refused" or "unavailable".
VAGUE: Final = (
    (
        _family(
            "policy",
            MESSAGE,
            r"(?:message|e-?mail|mail) (?:was |has been |is )?(?:blocked|rejected|refused"
            r"|quarantined)",
            r"(?:will|does|did) not accept (?:delivery of )?(?:this|your|the) (?:message|mail"
            r"|e-?mail)",
        ),
        _family(
            "blocked", SENDER, r"\bblocked\b", r"\bbanned\b", r"access denied", r"denied access"
        ),
        _family(
            "user_unknown",
            RECIPIENT,
            r"mailbox (?:is )?(?:currently )?unavailable",
            r"(?:recipient|mailbox|user) (?:address )?(?:is )?(?:not available|unavailable)",
            r"recipient (?:address )?rejected(?![:;,] *\w)",  # no reason given after it
            r"not a valid (?:mailbox|recipient)",
            r"no valid recipients",
            r"user (?:account )?(?:is )?(?:unavailable|not available)",
            r"(?:mailbox|address|account) (?:not|isn'?t) (?:available|valid)",
        ),
        _family("spam_detected", MESSAGE, r"\bjunk\b", r"suspicious", r"filter"),
    ),
    (
        _family(
            "policy",
            UNKNOWN,
            r"polic(?:y|ies)",
            r"not (?:allowed|permitted|authori[sz]ed|accepted)",
            r"\brefused\b",
            r"\bdenied\b",
            r"\brejected\b",
            r"prohibited",
            r"\bforbidden\b",
            r"restricted",
            r"permission",
            r"\bautori[sz]",  # fr autorisé, it autorizzato, es/pt autorizado
            r"\bpermis[os]",  # es permiso(s), pt permissão
            r"\bpermess",  # it permesso
            r"berechtig",  # de (nicht) berechtigt, Berechtigung
            r"toestemming",  # nl
            r"bevoegd",  # nl
            r"uprawnie",  # pl uprawnienia, uprawnień
            r"verweigert",
            r"abgelehnt",
        ),
        _family(
            "system",
            TRANSPORT,
            r"temporar(?:y|ily)",
            r"try again",
            r"resources",
            r"service (?:is )?(?:currently |temporarily )?(?:not available|unavailable)",
            r"(?:server|system|host) (?:is )?(?:currently |temporarily )?(?:busy|unavailable"
            r"|down|overloaded)",
            r"unavailable",
        ),
    ),
)

# Text that says the failure is transient: never an address fault, whatever else it says.
_TRANSIENT: Final = re.compile(
    r"try (?:again )?later|retry later|please (?:try again|retry)(?! with| using)"
    r"|try again(?! with| using| once)|temporar(?:y|ily)|will (?:be )?retr(?:y|ied)"
    r"|greylist|graylist|deferred|sp\u00e4ter (?:erneut|noch einmal)|vor\u00fcbergehend"
)
_CHECK_BEFORE: Final = re.compile(r"(?:check|correct|verify|fix|confirm)\b.{0,60}$")
_NEGATED: Final = re.compile(r"\b(?:not|no|never|isn't) (?:a |an )?$")
# Words that make a statement a possibility ("the group may not exist, or ...").
_HEDGE: Final = re.compile(
    r"\b(?:may|might|perhaps|possibly|probably|either)\b|il se peut|peut-\u00eatre|vielleicht"
    r"|m\u00f6glicherweise|eventuell"
)


# A link in a reply is a reference, not a statement ("see https://.../email-routing/..."):
# its words must not count as phrases.
_URL: Final = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'()\[\]]+|\bwww\.[^\s<>\"'()\[\]]+")


def lower(text: str) -> str:
    """The first ``MAX_SCAN`` characters of ``text``, lower case, links blanked out (what
    :func:`scan` expects)."""
    low = text[:MAX_SCAN].lower()
    if "://" in low or "www." in low:
        low = _URL.sub(" ", low)
    return low


def scan(tiers: tuple[tuple[Family, ...], ...], low: str) -> Family | None:
    """The family whose phrase comes first in ``low`` (lower-cased text), from the first tier
    that has one; ties go to the family listed first. A recipient phrase that is hedged ("it
    may be that the group does not exist") does not count."""
    if not low:
        return None
    for families in tiers:
        best: Family | None = None
        best_at = len(low) + 1
        for family in families:
            match = family.pattern.search(low)
            while match is not None and family.fault == RECIPIENT and _hedged(low, match):
                match = family.pattern.search(low, match.end())
            if match is not None and match.start() < best_at:
                best, best_at = family, match.start()
        if best is not None:
            return best
    return None


def _hedged(low: str, match: re.Match[str]) -> bool:
    """Whether a hedge word comes inside the match or before it in the same sentence."""
    start = max(0, match.start() - 120)
    boundary = max(low.rfind(mark, start, match.start()) for mark in ".!?;\n")
    return _HEDGE.search(low, max(start, boundary + 1), match.end()) is not None


def says_transient(low: str) -> bool:
    """Whether the (lower-cased) text says to try again later or that the failure is temporary.

    "Please check the address and try again" is advice to the sender, and "this is not a
    temporary error" says the opposite: neither is a transient failure.
    """
    for match in _TRANSIENT.finditer(low):
        before = low[max(0, match.start() - 70) : match.start()]
        if match.group(0).startswith("try again") and _CHECK_BEFORE.search(before):
            continue
        if _NEGATED.search(before):
            continue
        return True
    return False

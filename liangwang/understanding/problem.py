"""Whether a turn describes a problem to report rather than asks about a service.

NLU sometimes reads a complaint in everyday words as a question about a service
("办个退休跑社保跑单位，跑完单位又跑档案馆，腿都跑断了" names places and a service, and
asks nothing). A second opinion settles it: a two-class naive Bayes model over the same
character and sound grams as the category model (liangwang/complaints/classifier.py),
trained on how citizens describe problems (the category model's examples and NLU's
report_problem examples) against how they ask about services (NLU's request intents,
including the ones generated from the catalog). It is asked only on turns NLU placed
among the requests or could not place, and only overrides NLU when it is very sure.

MIN_LOG_ODDS was chosen by five-fold cross-validation on the training texts: at e⁸ a
request is taken for a problem 1.4 % of the time even before NLU has had its say (at e⁴,
2.1 %). MIN_HAN_CHARS keeps short noise and foreign words ("kkkkkk", "the bus is late
again") out: a description of a problem is a sentence.
"""

from __future__ import annotations

import re

from liangwang.understanding.examples import PROBLEM, REQUEST, REQUEST_INTENTS, log_odds

# NLU's readings a clear description of a problem overrides: the guide's questions and
# "could not place". A status question ("我的投诉怎么样了") stays one.
OVERRIDDEN = (REQUEST_INTENTS - {"check_status"}) | {"nlu_fallback"}
MIN_LOG_ODDS = 8.0
MIN_HAN_CHARS = 8
_HAN = re.compile(r"[\u4e00-\u9fff]")


def describes_problem(text: str, nlu_intent: str | None) -> bool:
    """True when NLU read ``text`` as a request or could not place it, but it is a sentence
    that reads, very clearly, as a problem to report."""
    if nlu_intent not in OVERRIDDEN or len(_HAN.findall(text)) < MIN_HAN_CHARS:
        return False
    return log_odds(text, PROBLEM, REQUEST) >= MIN_LOG_ODDS

"""Whether a turn NLU took for a request or a problem is everyday chatter instead.

DIET is sure of itself on sentences unlike anything it learned: "中午吃点啥好呢" comes out
as a question about where to go, "我孙子这次考试考了一百分" as a problem to report, both
above the fallback threshold. Answering them "好的。请问您想办什么事？" or "听起来是其他
问题方面的问题" tells the citizen they were understood when they were not. A second
opinion catches them: two-class naive Bayes models over the same character and sound grams
as the category model, NLU's out_of_scope examples against the requests, and against the
problems (liangwang/understanding/examples.py).

It is asked only where nothing else was found — a request that matched no service in the
catalog, the first turn of a complaint — so a request naming a service is never turned away.
MIN_LOG_ODDS was chosen by five-fold cross-validation on the training texts: at e⁸,
0.2 % of requests and 0.2 % of problem descriptions are taken for chatter, and about 40 %
(against requests) and 57 % (against problems) of the chatter is caught.
"""

from __future__ import annotations

from liangwang.understanding.examples import CHATTER, PROBLEM, REQUEST, log_odds

MIN_LOG_ODDS = 8.0


def chatter_not_request(text: str) -> bool:
    """True when ``text``, taken for a question about a service, reads very clearly as
    chatter the service does not handle."""
    return log_odds(text, CHATTER, REQUEST) >= MIN_LOG_ODDS


def chatter_not_problem(text: str) -> bool:
    """True when ``text``, taken for a problem to report, reads very clearly as chatter."""
    return log_odds(text, CHATTER, PROBLEM) >= MIN_LOG_ODDS

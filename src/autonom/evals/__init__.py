"""Evaluation on the company's own questions and load tests of any chat endpoint.

``dataset`` reads eval sets, ``facts`` matches expected facts and spots abstentions,
``checks`` scores one answer (right, hallucinated, cited correctly), ``judge`` asks a model
for a second opinion, ``metrics`` summarises runs and evaluates gates, ``report`` prints and
writes JSON and HTML, ``loadgen`` is the bounded load generator behind ``autonom bench``.
Runs ask their questions through the gateway: :mod:`autonom.services.eval_runner`.
"""

"""The texts people read, in Chinese (the default) and English: one catalogue (ADR 0038).

``texts/locale/<language>/LC_MESSAGES/closedloop.po`` holds every text by id;
:mod:`texts.catalogue` loads and checks it; :mod:`texts.words` names the domain's codes
that have words; :mod:`texts.timeline` describes an event on a loop's timeline and
:mod:`texts.webhooks` writes a notification's text. The API, the notifiers and the pages
import this room; it imports the domain only.
"""

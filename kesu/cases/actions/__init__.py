"""Action handlers: what each lifecycle action does to a locked case, one module per phase.

Called only by `kesu.cases.services.perform` (through the transition table, kesu/cases/transitions.py),
inside its transaction, after the transition table and permissions were checked. A handler validates
its input, writes the action's own records (proposal, follow-up ...), sets case fields, and returns
the target status and the event payload. Raising rolls everything back.

judging (accept, grade, invalid, first-contact answer) → routing (assign, investigate) →
collaboration (协办, 合议) → remedy (proposal, approval) → closing (reply, close, suspend) →
after_closing (follow-up, reopen) → archiving; accountability (责任追究), system (deadline engine,
mail) and evidence (attachments) beside them; common holds what they share.
"""

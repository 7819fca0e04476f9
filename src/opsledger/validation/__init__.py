"""Validation: the run (:mod:`.run`), the schema stage (:mod:`.schema_stage`), the cross-source rules
(:mod:`.rules`, decided by great-expectations in a worker process, :mod:`.gxworker`), findings
(:mod:`.findings`), quotation grounding (:mod:`.quotations`) and the offline HTML report
(:mod:`.report`)."""

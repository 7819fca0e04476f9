"""Derived columns: a phrase read into an interval (:mod:`.phrases`), claims reconciled into outcomes
and the headline (:mod:`.reconcile`), and row-level differences between two sets of tables
(:mod:`.tablediff`)."""

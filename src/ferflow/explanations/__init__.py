"""Explanations: attribution maps, their faithfulness scores, the explanation figures."""

"""``hybridctl smoke``: test workloads on every node, checks across both operating systems, a JUnit report.

``workloads`` renders the test objects from ``templates/smoke/``; ``report`` holds the results and writes
JUnit and JSON; ``kubectl`` runs kubectl on the first control plane; ``checks`` are the checks; ``run``
puts them in order and always cleans up.
"""

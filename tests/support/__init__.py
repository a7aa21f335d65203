"""What the tests share: the scenarios, the deployment of the three services as processes,
the Info Mart checks, waiting for conditions."""

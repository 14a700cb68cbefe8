"""Bank connectors (PAY-5): the BankConnector protocol, the wage-file codec and a reference bank.

Built with the wage-payment issue; the package exists so the layout of DESIGN.md holds from the start.
"""

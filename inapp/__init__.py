"""In-app messages and Web Push for the end users of the customer's product.

Pure rules (`inapp.rules`: identity hashes, origins, message fields, push endpoints) apart from the I/O:
`inapp.messages` (the queue the campaign engine calls), `inapp.settings` (secret, origins, VAPID keys),
`inapp.push` (subscriptions and sending) and `inapp.web` (the snippet and its API).
"""

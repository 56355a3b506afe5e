-- What a key may do (JSON: permissions, lists, identities); NULL: everything, as every
-- key made before scopes existed.
ALTER TABLE api_keys ADD COLUMN scope TEXT;

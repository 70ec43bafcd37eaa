//! The Configuration API's properties: `create_properties` and `get_property_configs`, made by
//! agents. An agent's namespace is its id: v0.5 gives each application (a token's `client_id`)
//! its own, and an agent is the nearest thing to an application the engine knows.

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::Grant;
use crate::model::PropertyConfig;

impl Engine {
    /// `create_properties`: every property in the requester's namespace, each valid, or none
    /// is created. A property already configured is replaced, as [`Engine::configure_property`]
    /// replaces it.
    pub(crate) fn create_properties(
        &mut self,
        req: &Requester,
        properties: Vec<PropertyConfig>,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, Grant::PropertiesMyWrite)?;
        if properties.is_empty() {
            return Err(Error::InvalidField {
                field: "payload",
                reason: "names no property".to_string(),
            });
        }
        let namespace = req.id.to_string();
        for config in &properties {
            if config.namespace != namespace {
                return Err(Error::InvalidField {
                    field: "property.namespace",
                    reason: format!(
                        "{}.{}: an agent creates properties in its own namespace, {namespace:?}",
                        config.namespace, config.name
                    ),
                });
            }
            config.validate()?;
        }
        self.commit(req);
        for config in properties {
            // Validated above: inserting cannot fail.
            let _ = self.properties.insert(config);
        }
        Ok(Output::quiet(()))
    }

    /// `get_property_configs`: the requester's namespace, or with `all` every property.
    pub(crate) fn property_configs(
        &self,
        req: &Requester,
        all: bool,
    ) -> Result<Vec<PropertyConfig>, Error> {
        self.authorize(req, Grant::PropertiesMyRead)?;
        if all {
            self.authorize(req, Grant::PropertiesAllRead)?;
        }
        let namespace = req.id.to_string();
        Ok(self
            .properties
            .iter()
            .filter(|c| all || c.namespace == namespace)
            .cloned()
            .collect())
    }
}

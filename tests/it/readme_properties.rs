//! The README's worked example for properties and scopes, kept compiling and true.

use chatio::model::{Access, Domain, Location, LocationAccess, PropertyConfig, PropertyType};
use chatio::{
    Agent, Engine, Error, ErrorKind, GroupId, Properties, PropertyValue, Scopes, StartChat,
    Timestamp, UserId,
};

#[test]
fn rating_property_and_two_groups() -> Result<(), Error> {
    let mut engine = Engine::default();
    engine.configure_property(
        PropertyConfig::new("rating", "score", PropertyType::Int)
            .at(
                Location::Chat,
                LocationAccess {
                    agent: Access::READ,
                    customer: Access::READ_WRITE,
                },
            )
            .with_domain(Domain::Range { min: 1, max: 5 }),
    )?;
    let sales = UserId::new("sam@example.com")?;
    let support = UserId::new("sue@example.com")?;
    engine.add_agent(Agent::new(sales.clone(), "Sam").with_groups([GroupId(1)]))?;
    engine.add_agent(Agent::new(support.clone(), "Sue").with_groups([GroupId(2)]))?;

    let jan = engine.create_customer();
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let chat = engine
        .as_customer(&jan, now)?
        .start_chat(StartChat::default().with_scopes(Scopes {
            groups: [GroupId(2)].into(),
            ..Scopes::default()
        }))?;
    assert!(chat.pushes.iter().all(|p| !p.to.contains(&sales)));
    let id = chat.response.id;
    let denied = engine.as_agent(&sales, now)?.get_chat_threads(id, &[]);
    assert_eq!(denied.unwrap_err().kind(), ErrorKind::Authorization);

    let mut rating = Properties::new();
    rating
        .entry("rating".into())
        .or_default()
        .insert("score".into(), PropertyValue::Int(5));
    let rated = engine
        .as_customer(&jan, now)?
        .update_chat_properties(id, rating.clone())?;
    assert_eq!(rated.pushes[0].action(), "chat_properties_updated");
    assert_eq!(rated.pushes[0].to, vec![support.clone()]);
    assert_eq!(rated.pushes[1].to, vec![jan.clone()]);
    let refused = engine
        .as_agent(&support, now)?
        .update_chat_properties(id, rating);
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Authorization);

    let mut six = Properties::new();
    six.entry("rating".into())
        .or_default()
        .insert("score".into(), PropertyValue::Int(6));
    let out_of_range = engine
        .as_customer(&jan, now)?
        .update_chat_properties(id, six);
    assert_eq!(out_of_range.unwrap_err().kind(), ErrorKind::Validation);
    Ok(())
}

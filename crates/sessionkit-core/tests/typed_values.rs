//! Typed reads (`get`, `get_or_insert`, `remove`) deserialize the stored JSON straight
//! into the type asked for, and a stored value of another type is an error that names
//! the key and changes nothing.

use serde::{Deserialize, Serialize};
use sessionkit_core::{Error, MemoryStore, Session, SessionConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cart {
    items: Vec<String>,
    coupon: Option<String>,
    totals: std::collections::BTreeMap<String, f64>,
}

fn cart() -> Cart {
    Cart {
        items: vec!["apple".into(), "pear".into()],
        coupon: None,
        totals: [("eur".to_owned(), 3.5), ("usd".to_owned(), 3.8)].into(),
    }
}

#[tokio::test]
async fn structured_values_read_back_as_inserted_through_every_typed_read() -> Result<(), Error> {
    let session = Session::new(MemoryStore::new(), SessionConfig::default());
    session.insert("cart", cart()).await?;
    assert_eq!(session.get::<Cart>("cart").await?, Some(cart()));
    let other = Cart {
        items: vec![],
        ..cart()
    };
    assert_eq!(session.get_or_insert("cart", other).await?, cart());
    assert_eq!(session.get::<Cart>("missing").await?, None);
    assert_eq!(session.remove::<Cart>("cart").await?, Some(cart()));
    assert_eq!(session.get::<Cart>("cart").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_stored_value_of_another_type_is_an_error_naming_the_key() -> Result<(), Error> {
    let session = Session::new(MemoryStore::new(), SessionConfig::default());
    session.insert("cart", "not a cart").await?;
    for result in [
        session.get::<Cart>("cart").await.map(drop),
        session.get_or_insert("cart", cart()).await.map(drop),
    ] {
        match result {
            Err(Error::Value { key, .. }) => assert_eq!(key, "cart"),
            other => panic!("expected a value error for \"cart\", got {other:?}"),
        }
    }
    // Neither read changed the stored value.
    assert_eq!(
        session.get::<String>("cart").await?.as_deref(),
        Some("not a cart")
    );
    match session.remove::<Cart>("cart").await {
        Err(Error::Value { key, .. }) => assert_eq!(key, "cart"),
        other => panic!("expected a value error for \"cart\", got {other:?}"),
    }
    Ok(())
}
